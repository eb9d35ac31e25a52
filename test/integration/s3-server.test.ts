// The test S3 server does what backups need of an object store: multipart
// uploads with signed requests, sizes and listings that match, and objects
// that survive the server being killed and started again.
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3, testS3Client, type TestS3 } from '../harness/s3.js';

const MiB = 1024 * 1024;

describe('test S3 server', () => {
  let s3: TestS3;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3();
    client = testS3Client(s3);
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('refuses a request signed with the wrong secret', async () => {
    const forged = testS3Client({ ...s3, secretAccessKey: `${s3.secretAccessKey}x` }, { maxAttempts: 1 });
    try {
      await expect(forged.send(new ListObjectsV2Command({ Bucket: 'backups' }))).rejects.toMatchObject({
        name: 'SignatureDoesNotMatch',
      });
    } finally {
      forged.destroy();
    }
  });

  it('takes a multipart upload, lists it, is down when killed and keeps it across a restart', async () => {
    await s3.bucket('backups');
    const body = randomBytes(12 * MiB);
    // 5 MiB is S3's smallest part: 12 MiB makes two full parts and a last short one.
    const upload = new Upload({
      client,
      params: { Bucket: 'backups', Key: 'ws-a/base.tar.age', Body: body },
      partSize: 5 * MiB,
      queueSize: 2,
    });
    const parts: number[] = [];
    upload.on('httpUploadProgress', (p) => {
      if (p.part !== undefined) parts.push(p.part);
    });
    await upload.done();
    expect(new Set(parts).size).toBe(3);

    const head = await client.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'ws-a/base.tar.age' }));
    expect(head.ContentLength).toBe(body.length);
    // A multipart ETag is "<md5 of the part md5s>-<part count>".
    expect(head.ETag).toMatch(/-3"$/);

    const got = await client.send(new GetObjectCommand({ Bucket: 'backups', Key: 'ws-a/base.tar.age' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);

    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'ws-a/' }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([['ws-a/base.tar.age', body.length]]);

    await s3.kill();
    // One attempt: the SDK's retries would only slow down a refusal that is certain.
    const once = testS3Client(s3, { maxAttempts: 1 });
    try {
      await expect(once.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'ws-a/base.tar.age' }))).rejects.toThrow(
        /ECONNREFUSED/,
      );
    } finally {
      once.destroy();
    }

    await s3.restart();
    const again = await client.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'ws-a/base.tar.age' }));
    expect(again.ContentLength).toBe(body.length);
    expect(again.ETag).toBe(head.ETag);
  });
});
