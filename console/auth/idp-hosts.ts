// Where the console may send identity-provider requests (OIDC discovery,
// token, userinfo). A tenant admin chooses the issuer URL, so without a check
// the console would fetch from its own loopback, the pod network or a cloud
// metadata address on their behalf. Such addresses are refused unless the
// platform admin allows them: on-premise IdPs often live on private networks,
// and the tests run their IdP on 127.0.0.1.
import { lookup as lookupCallback, type LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { CustomFetch } from 'openid-client';
import { Agent } from 'undici';
import { SsoError } from './sso.js';

export const ALLOWED_HOSTS_SETTING = 'HOLDFAST_SSO_ALLOWED_HOSTS';

// Loopback, private, link-local, shared (CGNAT), benchmarking, multicast and
// reserved ranges: none of them is a public identity provider.
const INTERNAL_V4 = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const;
const INTERNAL_V6 = [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const;

const internal = new BlockList();
for (const [net, prefix] of INTERNAL_V4) internal.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of INTERNAL_V6) internal.addSubnet(net, prefix, 'ipv6');

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is checked as the IPv4 address it is. */
function normalize(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function isInternalAddress(address: string): boolean {
  const a = normalize(address);
  return internal.check(a.address, a.family);
}

/** What an identity provider may send back: discovery documents, keys and token answers are a few KiB. */
export const MAX_IDP_RESPONSE_BYTES = 1024 * 1024;

export class IdpHostPolicy {
  private readonly names = new Set<string>();
  private readonly networks = new BlockList();
  /**
   * Connects only to the addresses the check allows, as they are resolved
   * for the connection itself: a name that resolved to a public address for
   * the check and to an internal one a moment later (DNS rebinding) is
   * refused at connect.
   */
  private readonly dispatcher = new Agent({ connect: { lookup: this.connectLookup() } });

  /**
   * `entries`: host names (exact, any case), IP addresses and CIDRs whose
   * addresses the console may reach although they are internal.
   */
  constructor(readonly entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      const [net, bits] = entry.split('/');
      const family = isIP(net!);
      if (family === 0) {
        if (bits !== undefined)
          throw new Error(`${ALLOWED_HOSTS_SETTING}: "${raw}" is not a CIDR; write e.g. 10.0.0.0/8`);
        this.names.add(entry);
        continue;
      }
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
        throw new Error(`${ALLOWED_HOSTS_SETTING}: "${raw}" has no valid prefix length (0 to ${max})`);
      this.networks.addSubnet(net!, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  /** From the comma-separated setting, e.g. `idp.corp.local,10.20.0.0/16`. */
  static fromSetting(value: string | undefined): IdpHostPolicy {
    return new IdpHostPolicy((value ?? '').split(','));
  }

  /**
   * Resolves the URL's host and refuses it when any address it resolves to is
   * internal and not allowed. Every address counts: a name with one public
   * and one loopback address could be answered by either.
   */
  async check(url: URL): Promise<void> {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    if (this.names.has(host)) return;
    let addresses: string[];
    if (isIP(host) !== 0) addresses = [host];
    else {
      try {
        addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      } catch (err) {
        throw new SsoError(
          `the identity provider host ${host} does not resolve (${(err as Error).message}); check the issuer URL`,
        );
      }
    }
    this.refuseInternal(host, addresses);
  }

  private refuseInternal(host: string, addresses: readonly string[]): void {
    const refused = addresses.filter((address) => {
      const a = normalize(address);
      return internal.check(a.address, a.family) && !this.networks.check(a.address, a.family);
    });
    if (refused.length > 0) {
      throw new SsoError(
        `the identity provider host ${host} resolves to ${refused.join(', ')}, a loopback, private or link-local address; ` +
          `the console sends identity-provider requests there only when the platform administrator allows it in ${ALLOWED_HOSTS_SETTING} (host names or CIDRs, comma-separated)`,
      );
    }
  }

  /** The resolver for the connections themselves: the same rule as `check`, on the addresses connected to. */
  private connectLookup(): LookupFunction {
    return (hostname, options, callback) => {
      lookupCallback(hostname, { ...options, all: true, verbatim: true }, (err, found: LookupAddress[]) => {
        if (err) return callback(err, '', 4);
        try {
          if (!this.names.has(hostname.toLowerCase()))
            this.refuseInternal(
              hostname,
              found.map((a) => a.address),
            );
        } catch (refusal) {
          return callback(refusal as Error, '', 4);
        }
        if (options.all) return (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, found);
        const first = found[0];
        if (!first) return callback(new Error(`${hostname} has no address`), '', 4);
        callback(null, first.address, first.family);
      });
    };
  }

  /**
   * A fetch for openid-client that checks every request's destination first
   * and again at connect, follows no redirect, and reads at most
   * MAX_IDP_RESPONSE_BYTES of an answer.
   */
  fetch(): CustomFetch {
    return async (url, options) => {
      await this.check(new URL(url));
      // Redirects would reach hosts that were never checked.
      const res = await fetch(url, {
        ...(options as RequestInit),
        redirect: 'manual',
        dispatcher: this.dispatcher,
      } as RequestInit);
      return capped(res, MAX_IDP_RESPONSE_BYTES);
    };
  }
}

/** The response with a body that fails once it passes `max` bytes, instead of being read whole. */
function capped(res: Response, max: number): Response {
  if (!res.body) return res;
  let seen = 0;
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > max)
        controller.error(new SsoError(`the identity provider sent more than ${max} bytes; that is not an answer`));
      else controller.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(limit), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
