// Where backup artifacts go: a folder on a volume, or an S3-compatible store.
// Both make an artifact visible under its final name only once all of it is
// written and checked, so an interrupted upload never looks complete:
//   - a folder: written as `.<name>.partial-<random>`, synced, read back and
//     hashed, then renamed;
//   - S3: a multipart upload, each part carrying its SHA-256 (which the
//     server checks), completed only when the total size matches. Until
//     CompleteMultipartUpload the object does not exist for any reader; an
//     upload that is abandoned is aborted (and `prune` aborts leftovers).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

/** What the writer saw go out: the upload must match it before it is made final. */
export interface Expected {
  size: number;
  sha256: string;
}

export interface StoredObject {
  key: string;
  size: number;
}

export interface Destination {
  readonly name: string;
  /** Where `key` is, as a person would look for it (a path, or s3://bucket/key). */
  location(key: string): string;
  /**
   * Streams `body` to `key`. `expected` is asked once the body has ended; the
   * upload is made final only when it resolves (the writer's verdict, e.g.
   * pg_dump's exit status) and matches, and is discarded when it rejects.
   */
  upload(key: string, body: Readable, expected: () => Promise<Expected>): Promise<void>;
  /** A small object (a manifest), written whole and made final at once. */
  put(key: string, data: Buffer): Promise<void>;
  get(key: string): Promise<Readable>;
  list(prefix: string): Promise<StoredObject[]>;
  delete(key: string): Promise<void>;
  /** Removes what interrupted uploads left (never anything final). */
  cleanUp(prefix: string): Promise<number>;
}

export class UploadMismatch extends Error {}

function checkExpected(dest: string, key: string, got: Expected, want: Expected): void {
  if (got.size !== want.size)
    throw new UploadMismatch(`${dest}: ${key} holds ${got.size} bytes, ${want.size} were sent`);
  if (got.sha256 !== want.sha256)
    throw new UploadMismatch(`${dest}: ${key} reads back with SHA-256 ${got.sha256}, ${want.sha256} was sent`);
}

const PARTIAL = /^\.(.+)\.partial-[0-9a-f]{16}$/;

/** A folder, as mounted from the workspace's backup volume. */
export class FolderDestination implements Destination {
  constructor(
    readonly name: string,
    private readonly root: string,
  ) {}

  location(key: string): string {
    return path.join(this.root, key);
  }

  private partial(key: string): string {
    const file = this.location(key);
    return path.join(path.dirname(file), `.${path.basename(file)}.partial-${randomBytes(8).toString('hex')}`);
  }

  async upload(key: string, body: Readable, expected: () => Promise<Expected>): Promise<void> {
    const file = this.location(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = this.partial(key);
    try {
      await pipeline(body, createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
      // fsync is of the file, whichever descriptor asks: on disk before it is renamed.
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      // Read back from the file system, not from what was handed to it.
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(temp) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
      }
      checkExpected(this.name, key, { size, sha256: hash.digest('hex') }, await expected());
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = this.location(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = this.partial(key);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Readable> {
    await stat(this.location(key));
    return createReadStream(this.location(key));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(path.join(this.root, dir), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(rel);
        else if (e.isFile() && !PARTIAL.test(e.name) && rel.startsWith(prefix))
          out.push({ key: rel, size: (await stat(path.join(this.root, rel))).size });
      }
    };
    await walk(prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '');
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    await rm(this.location(key), { force: true });
  }

  async cleanUp(prefix: string): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (PARTIAL.test(e.name)) {
          await rm(full, { force: true });
          removed++;
        }
      }
    };
    await walk(path.join(this.root, prefix));
    return removed;
  }

  /** For tests and the `holdfast backup` summary. */
  async readText(key: string): Promise<string> {
    return readFile(this.location(key), 'utf8');
  }
}

export interface S3Settings {
  endpoint: string;
  bucket: string;
  prefix: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** PEM of the CA that signed the endpoint's certificate. */
  ca?: string;
  /** Bytes per part; S3 wants at least 5 MiB for every part but the last. */
  partSize?: number;
  /** Parts in flight at once. */
  concurrency?: number;
}

const DEFAULT_PART = 16 * 1024 * 1024;

export class S3Destination implements Destination {
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly concurrency: number;

  constructor(
    readonly name: string,
    private readonly s3: S3Settings,
  ) {
    this.partSize = s3.partSize ?? DEFAULT_PART;
    this.concurrency = s3.concurrency ?? 3;
    this.client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      // Checksums are chosen per request below; the SDK's default CRC32 on
      // every request is refused by some S3-compatible servers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      ...(s3.ca ? { requestHandler: { httpsAgent: new HttpsAgent({ ca: s3.ca }) } } : {}),
    });
  }

  private objectKey(key: string): string {
    return `${this.s3.prefix}${key}`;
  }

  location(key: string): string {
    return `s3://${this.s3.bucket}/${this.objectKey(key)}`;
  }

  async upload(key: string, body: Readable, expected: () => Promise<Expected>): Promise<void> {
    const Bucket = this.s3.bucket;
    const Key = this.objectKey(key);
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: 'SHA256' }),
    );
    const UploadId = created.UploadId!;
    const parts: { PartNumber: number; ETag: string; ChecksumSHA256: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    let size = 0;
    const send = (PartNumber: number, data: Buffer) => {
      const ChecksumSHA256 = createHash('sha256').update(data).digest('base64');
      const p = this.client
        .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ChecksumSHA256 }))
        .then((r) => {
          parts.push({ PartNumber, ETag: r.ETag!, ChecksumSHA256 });
        })
        .catch((err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let partNumber = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        size += chunk.length;
        while (pendingBytes >= this.partSize) {
          const all = Buffer.concat(pending);
          send(++partNumber, all.subarray(0, this.partSize));
          pending = [all.subarray(this.partSize)];
          pendingBytes = pending[0]!.length;
          while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
          if (failure) throw failure;
        }
      }
      if (pendingBytes > 0 || partNumber === 0) send(++partNumber, Buffer.concat(pending));
      await Promise.all(inFlight);
      if (failure) throw failure;
      // Each part's SHA-256 was checked by the server as it arrived; the whole
      // must be what the writer sent before it becomes visible.
      const want = await expected();
      if (size !== want.size) throw new UploadMismatch(`${this.name}: ${size} bytes read, ${want.size} sent`);
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (err) {
      await Promise.allSettled(inFlight);
      await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket, Key }));
    if (head.ContentLength !== size) {
      throw new UploadMismatch(
        `${this.name}: ${Key} holds ${head.ContentLength} bytes after upload, ${size} were sent`,
      );
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.s3.bucket,
        Key: this.objectKey(key),
        Body: data,
        ContentType: key.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        ChecksumSHA256: createHash('sha256').update(data).digest('base64'),
      }),
    );
  }

  async get(key: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: this.objectKey(key) }));
    return r.Body as Readable;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: this.objectKey(prefix), ContinuationToken }),
      );
      for (const o of page.Contents ?? [])
        out.push({ key: o.Key!.slice(this.s3.prefix.length), size: Number(o.Size ?? 0) });
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: this.objectKey(key) }));
  }

  async cleanUp(prefix: string): Promise<number> {
    const { Uploads = [] } = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.s3.bucket, Prefix: this.objectKey(prefix) }),
    );
    // Older than a day: never the upload of a backup running now.
    const before = Date.now() - 24 * 3600_000;
    let aborted = 0;
    for (const u of Uploads) {
      if (!u.Initiated || u.Initiated.getTime() > before) continue;
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.s3.bucket, Key: u.Key!, UploadId: u.UploadId! }),
      );
      aborted++;
    }
    return aborted;
  }
}
