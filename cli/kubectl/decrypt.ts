// `kubectl holdfast decrypt ARTIFACT -i FILE [-o OUT]`: a backup artifact
// back to the pg_dump archive it holds, for a customer without the age CLI.
// The file is checked against the manifest next to it when there is one; the
// output appears under its name only once every chunk has authenticated.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptStream } from '../../operator/backup/age-stream.js';
import { manifestKey, type Manifest } from '../../operator/backup/artifact.js';

/** The AGE-SECRET-KEY-1… lines of age identity files, as age-keygen writes them. */
async function identitiesOf(files: readonly string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read the identity file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    const found = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('AGE-SECRET-KEY-1'));
    if (found.length === 0)
      throw new Error(
        `${file} holds no age identity (a line "AGE-SECRET-KEY-1…"): give the file age-keygen wrote, or the workspace's key from its Secret backup-key`,
      );
    keys.push(...found);
  }
  return keys;
}

async function manifestOf(artifact: string): Promise<Manifest | undefined> {
  if (!artifact.endsWith('.dump.age')) return undefined;
  const text = await readFile(manifestKey(artifact), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as Manifest) : undefined;
}

export async function decryptArtifact(
  artifact: string,
  identityFiles: readonly string[],
  output: string | undefined,
  out: NodeJS.WritableStream,
): Promise<number> {
  const size = await stat(artifact).then(
    (s) => s.size,
    () => {
      throw new Error(`cannot read ${artifact}: no such file`);
    },
  );
  const identities = await identitiesOf(identityFiles);
  const manifest = await manifestOf(artifact);
  if (manifest && manifest.size !== size)
    throw new Error(
      `${artifact} is ${size} bytes but its manifest says ${manifest.size}: the copy is incomplete or not this backup's; fetch it again`,
    );
  const target = output ?? artifact.replace(/\.age$/, '') + (artifact.endsWith('.age') ? '' : '.decrypted');
  const toStdout = target === '-';
  const partial = toStdout ? undefined : `${target}.partial`;
  const hash = createHash('sha256');
  const hashing = new PassThrough();
  hashing.on('data', (c: Buffer) => hash.update(c));
  const sink: Writable = toStdout ? (out as Writable) : createWriteStream(partial!, { mode: 0o600 });
  try {
    await pipeline(createReadStream(artifact), hashing, decryptStream(identities), sink, { end: !toStdout });
    const sha256 = hash.digest('hex');
    if (manifest && manifest.sha256 !== sha256)
      throw new Error(
        `${artifact} does not match its manifest (sha256 ${sha256}, manifest ${manifest.sha256}): the manifest is of another backup`,
      );
    if (partial) await rename(partial, target);
  } catch (err) {
    if (partial) await rm(partial, { force: true });
    throw err;
  }
  if (!toStdout)
    out.write(
      `${target}: the pg_dump archive of ${manifest ? `backup ${manifest.backup} (${manifest.database.tables} tables, ${manifest.database.rows} rows; checked against its manifest)` : artifact}\n` +
        `restore it with: pg_restore --no-owner -d DATABASE ${target}\n`,
    );
  return 0;
}
