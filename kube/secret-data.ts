// Secret `data` values are base64 on the wire.

export function toBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** The text of a Secret data value; '' when it is absent. */
export function fromBase64(value: string | undefined): string {
  return value ? Buffer.from(value, 'base64').toString('utf8') : '';
}
