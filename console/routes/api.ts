// The JSON API the console's pages and scripts use. Every route has a schema
// and runs only for a fully signed-in session; scoping is in the services.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { viewerOf, type Viewer } from '../access.js';
import { clientOf } from '../plugins/security.js';
import { TENANT_SORTS, TenantCreate, TenantUpdate, UserCreate, type TenantSort } from '../tenants/service.js';

const json = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
const idParams = json(z.object({ id: z.string().max(100) }));

function viewer(request: FastifyRequest): Viewer {
  return viewerOf(request.auth!.user);
}

export async function apiRoutes(app: FastifyInstance): Promise<void> {
  const { tenants, audit, workspaces } = app.services;

  app.addHook('preValidation', async (request, reply) => {
    if (request.auth?.session.stage !== 'active') {
      return reply.code(401).send({ error: 'Unauthorized', message: 'sign in to the console first' });
    }
  });

  app.get('/me', async (request) => ({ ...viewer(request), totp: Boolean(request.auth!.user.totpSecret) }));

  app.get(
    '/tenants',
    {
      schema: {
        querystring: json(
          z.object({
            sort: z.enum(Object.keys(TENANT_SORTS) as [TenantSort]).optional(),
            desc: z.boolean().optional(),
            page: z.number().int().min(1).optional(),
            pageSize: z.number().int().min(1).max(100).optional(),
          }),
        ),
      },
    },
    async (request) => {
      const q = request.query as { sort?: TenantSort; desc?: boolean; page?: number; pageSize?: number };
      return tenants.list(viewer(request), q);
    },
  );

  app.post('/tenants', { schema: { body: json(TenantCreate) } }, async (request, reply) => {
    const created = await tenants.create(
      viewer(request),
      request.body as z.input<typeof TenantCreate>,
      clientOf(request),
    );
    return reply.code(201).send(created);
  });

  app.get('/tenants/:id', { schema: { params: idParams } }, async (request) =>
    tenants.get(viewer(request), (request.params as { id: string }).id),
  );

  app.patch('/tenants/:id', { schema: { params: idParams, body: json(TenantUpdate) } }, async (request) =>
    tenants.update(
      viewer(request),
      (request.params as { id: string }).id,
      request.body as z.input<typeof TenantUpdate>,
      clientOf(request),
    ),
  );

  app.get('/tenants/:id/users', { schema: { params: idParams } }, async (request) =>
    tenants.users(viewer(request), (request.params as { id: string }).id),
  );

  app.post('/tenants/:id/users', { schema: { params: idParams, body: json(UserCreate) } }, async (request, reply) => {
    const created = await tenants.createUser(
      viewer(request),
      (request.params as { id: string }).id,
      request.body as z.input<typeof UserCreate>,
      clientOf(request),
    );
    return reply.code(201).send(created);
  });

  app.post('/users/:id/unlock', { schema: { params: idParams } }, async (request, reply) => {
    await tenants.unlockUser(viewer(request), (request.params as { id: string }).id, clientOf(request));
    return reply.code(204).send();
  });

  app.get(
    '/audit',
    {
      schema: {
        querystring: json(
          z.object({ page: z.number().int().min(1).optional(), pageSize: z.number().int().min(1).max(200).optional() }),
        ),
      },
    },
    async (request) => audit.list(viewer(request), request.query as { page?: number; pageSize?: number }),
  );

  // Public by nature; behind sign-in only because the whole API is.
  app.get('/audit/public-key', async () => ({ publicKey: await audit.publicKey() }));

  app.get('/audit/export', async (request, reply) => {
    const lines = audit.exportLines(viewer(request), request.ip);
    // Pull the first line before answering, so a refusal is a 403 and not a broken stream.
    const first = await lines.next();
    async function* all() {
      if (!first.done) yield first.value;
      yield* lines;
    }
    const { Readable } = await import('node:stream');
    return reply
      .type('application/x-ndjson')
      .header(
        'content-disposition',
        `attachment; filename="holdfast-audit-${new Date().toISOString().slice(0, 10)}.jsonl"`,
      )
      .send(Readable.from(all()));
  });

  app.get('/workspaces', async (request, reply) => {
    const v = viewer(request);
    const all = await workspaces?.all();
    if (!all)
      return reply.code(503).send({
        error: 'Unavailable',
        message: 'the console cannot reach the Kubernetes API; check its service account and network policy',
      });
    const visible =
      v.tenantId === null ? null : new Set((await tenants.list(v, { pageSize: 100 })).items.map((t) => t.workspace));
    return [...all.values()].filter((w) => visible === null || visible.has(w.name));
  });
}
