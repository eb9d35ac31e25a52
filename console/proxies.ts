// Which peers may tell the console a client's address. X-Forwarded-For is
// written by whoever sends the request: only the hops a trusted proxy added
// can be believed, so the client is the right-most address that is not one
// of the proxies (what Fastify's trustProxy does with a list).
import { isIP } from 'node:net';

/**
 * The proxies from HOLDFAST_TRUSTED_PROXIES (addresses or CIDRs, comma
 * separated), or false to trust none. Throws a message saying what to set.
 */
export function trustedProxies(env: Record<string, string | undefined>): string[] | false {
  if (env.HOLDFAST_TRUST_PROXY === 'true')
    throw new Error(
      'HOLDFAST_TRUST_PROXY=true would believe any X-Forwarded-For a client writes; remove it and set ' +
        'HOLDFAST_TRUSTED_PROXIES to the addresses or CIDRs of your proxies (e.g. 10.0.0.0/8)',
    );
  const list = (env.HOLDFAST_TRUSTED_PROXIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    if (!isAddressOrCidr(entry))
      throw new Error(
        `HOLDFAST_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR; list your proxies as e.g. 10.0.0.0/8,192.168.1.5`,
      );
  }
  return list.length > 0 ? list : false;
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}
