import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// hack/images.sh builds the Dockerfile with buildah and pulls nothing: every
// image a FROM names must be one it makes. These are the facts a change to
// either file must keep.
const root = path.resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const images = readFileSync(path.join(root, 'hack/images.sh'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

describe('the Dockerfile', () => {
  it('starts every stage from debian:trixie-slim, which hack/images.sh makes, or from an earlier stage', () => {
    const stages: string[] = [];
    const froms = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)];
    expect(froms.length).toBeGreaterThan(1);
    for (const [, image, name] of froms) {
      expect(image === 'debian:trixie-slim' || stages.includes(image!), `FROM ${image}`).toBe(true);
      if (name) stages.push(name);
    }
    expect(images).toMatch(/^ {2}slim_base trixie$/m);
  });

  it('runs as a non-root user and gives npm the secret npm-ca in every step that installs', () => {
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    const installs = dockerfile.split(/^RUN /m).filter((step) => /\bnpm ci\b/.test(step));
    expect(installs).toHaveLength(2);
    for (const step of installs) expect(step).toMatch(/^--mount=type=secret,id=npm-ca /);
    expect(images).toContain('--secret "id=npm-ca,src=');
  });

  it("records package.json's version as HOLDFAST_VERSION", () => {
    expect(dockerfile).toMatch(new RegExp(`^ARG HOLDFAST_VERSION=${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  });
});
