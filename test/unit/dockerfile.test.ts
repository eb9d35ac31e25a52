import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The Dockerfile is for users with Docker or buildah and is never built here;
// hack/images.sh builds the image the tests run. These are the facts both
// must state alike.
const root = path.resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const images = readFileSync(path.join(root, 'hack/images.sh'), 'utf8');
const holdfastBuilder = images.slice(images.indexOf('build_holdfast() {'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

const one = (text: string, pattern: RegExp): string => {
  const m = pattern.exec(text);
  if (!m) throw new Error(`${pattern} not found`);
  return m[1]!;
};

describe('the Dockerfile and hack/images.sh', () => {
  it('install the same Debian packages on the same suite', () => {
    const docker = one(dockerfile, /apt-get install -y --no-install-recommends ([^\\&\n]+)/).trim();
    const local = one(images, /apt_rootfs holdfast trixie prepare_holdfast ([^)\n]+)\)/).trim();
    expect(docker.split(/\s+/).sort()).toEqual(local.split(/\s+/).sort());
    expect(one(dockerfile, /^FROM (debian:\S+)$/m)).toBe('debian:trixie-slim');
  });

  it('run the same entry point as the same user, with the same PATH', () => {
    expect(one(dockerfile, /^ENTRYPOINT (\[.*\])$/m)).toBe(one(holdfastBuilder, /Entrypoint: (\[[^\]]*\])/));
    expect(one(dockerfile, /^USER (\S+)$/m)).toBe(one(holdfastBuilder, /User: "([^"]+)"/));
    expect(one(dockerfile, /ENV PATH=(\S+)/)).toBe(one(holdfastBuilder, /"PATH=([^"]+)"/));
  });

  it("record package.json's version as HOLDFAST_VERSION", () => {
    expect(one(dockerfile, /^ARG HOLDFAST_VERSION=(\S+)$/m)).toBe(pkg.version);
  });
});
