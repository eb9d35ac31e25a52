// How one PostgreSQL value becomes a CSV field and a SpreadsheetML cell.
// Values arrive as PostgreSQL's own text (the export selects every column
// `::text`, in UTC and ISO date style), so nothing is rounded on the way:
// the CSV keeps that text exactly (booleans as true/false), and the
// spreadsheet types a cell only where Excel and LibreOffice hold the value
// faithfully; anything else stays text.

/** What decides a column's cells: its type's category (pg_type.typcategory) and name. */
export interface Column {
  name: string;
  /** format_type(): "integer", "timestamp with time zone", "numeric(10,2)", "text[]"… */
  type: string;
  /** pg_type.typcategory of the base type: N numeric, B boolean, D date/time, S string… */
  category: string;
}

export type CellKind = 'number' | 'boolean' | 'date' | 'timestamp' | 'text';

export function kindOf(c: Column): CellKind {
  if (c.type.endsWith('[]')) return 'text';
  if (c.category === 'N') return 'number';
  if (c.category === 'B') return 'boolean';
  if (c.type === 'date') return 'date';
  if (c.type.startsWith('timestamp')) return 'timestamp';
  return 'text';
}

// ---- CSV (RFC 4180): CRLF line ends, a field quoted when it holds a comma,
// a quote, CR or LF. NULL is an empty field and an empty string is "", as
// PostgreSQL's own COPY … CSV writes and reads them.

export function csvField(value: string | null, kind: CellKind): string {
  if (value === null) return '';
  if (kind === 'boolean') return value === 'true' || value === 't' ? 'true' : 'false';
  if (value === '' || /[",\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

export function csvLine(values: readonly (string | null)[], kinds: readonly CellKind[]): string {
  return `${values.map((v, i) => csvField(v, kinds[i]!)).join(',')}\r\n`;
}

// ---- SpreadsheetML 2003 (the XML Excel and LibreOffice both open).

/** Excel's limit on a cell's text; a longer value is cut there in the spreadsheet (the CSV keeps all of it). */
export const CELL_TEXT_LIMIT = 32_767;
/** Excel's rows per worksheet: a longer table continues on further worksheets. */
export const SHEET_ROW_LIMIT = 1_048_576;

/** Characters XML 1.0 cannot carry at all, even as references: shown as U+FFFD. */
const NOT_XML =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Anything xmlText changes; most values have none of it. */
// eslint-disable-next-line no-control-regex
const XML_SPECIAL = /[&<>"\u0000-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

export function xmlText(s: string): string {
  if (!XML_SPECIAL.test(s)) return s;
  return s
    .replace(NOT_XML, '\uFFFD')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll('\r', '&#13;')
    .replaceAll('\n', '&#10;');
}

/** Excel keeps 15 significant digits: a number with more is text, not a rounded number. */
const PLAIN_NUMBER = /^-?(\d+)(?:\.(\d+))?$/;
function exactInSpreadsheet(text: string): boolean {
  const m = PLAIN_NUMBER.exec(text);
  if (!m) return false; // NaN, Infinity, exponents, money's "$1,234.00"
  const digits = `${m[1]}${m[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '');
  return digits.length <= 15;
}

/** 2024-01-31 10:20:30.123456+00 → 2024-01-31T10:20:30.123 (Excel keeps milliseconds); undefined when Excel has no such date. */
const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?(?:\+00(?::00)?)?$/;
function spreadsheetDate(text: string): string | undefined {
  const m = PG_TIMESTAMP.exec(text);
  // Excel's dates start in 1900; 'infinity', BC and five-digit years stay text.
  if (!m || Number(m[1]) < 1900) return undefined;
  const ms = (m[7] ?? '').padEnd(3, '0').slice(0, 3);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}.${ms}`;
}

export interface CellResult {
  xml: string;
  /** The text was longer than a cell holds. */
  cut: boolean;
}

export function xmlCell(value: string | null, kind: CellKind): CellResult {
  if (value === null) return { xml: '<Cell/>', cut: false };
  if (kind === 'number' && exactInSpreadsheet(value))
    return { xml: `<Cell><Data ss:Type="Number">${value}</Data></Cell>`, cut: false };
  // 1 or 0 shown as TRUE or FALSE: LibreOffice drops SpreadsheetML's Boolean cells.
  if (kind === 'boolean')
    return {
      xml: `<Cell ss:StyleID="b"><Data ss:Type="Number">${value === 'true' || value === 't' ? 1 : 0}</Data></Cell>`,
      cut: false,
    };
  if (kind === 'date' || kind === 'timestamp') {
    const at = spreadsheetDate(value);
    if (at)
      return {
        xml: `<Cell ss:StyleID="${kind === 'date' ? 'd' : 't'}"><Data ss:Type="DateTime">${at}</Data></Cell>`,
        cut: false,
      };
  }
  // Cut by code points, never inside a surrogate pair.
  const chars = [...value];
  const cut = chars.length > CELL_TEXT_LIMIT;
  const text = cut ? chars.slice(0, CELL_TEXT_LIMIT).join('') : value;
  return { xml: `<Cell><Data ss:Type="String">${xmlText(text)}</Data></Cell>`, cut };
}

/** A worksheet's name: at most 31 characters, none of : \ / ? * [ ], unique in its workbook by a " (n)" suffix. */
export function sheetName(table: string, part: number): string {
  const suffix = part > 1 ? ` (${part})` : '';
  const base = table.replace(/[:\\/?*[\]]/g, '_').replace(/^'+|'+$/g, '') || 'table';
  return [...base].slice(0, 31 - suffix.length).join('') + suffix;
}

export const WORKBOOK_HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<?mso-application progid="Excel.Sheet"?>\n' +
  '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:o="urn:schemas-microsoft-com:office:office"' +
  ' xmlns:x="urn:schemas-microsoft-com:office:excel" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">\n' +
  '<Styles>\n' +
  '<Style ss:ID="h"><Font ss:Bold="1"/></Style>\n' +
  '<Style ss:ID="d"><NumberFormat ss:Format="yyyy\\-mm\\-dd"/></Style>\n' +
  '<Style ss:ID="t"><NumberFormat ss:Format="yyyy\\-mm\\-dd\\ hh:mm:ss"/></Style>\n' +
  '<Style ss:ID="b"><NumberFormat ss:Format="&quot;TRUE&quot;;&quot;TRUE&quot;;&quot;FALSE&quot;"/></Style>\n' +
  '</Styles>\n';
export const WORKBOOK_TAIL = '</Workbook>\n';

export function sheetHead(name: string, columns: readonly Column[]): string {
  const header = columns.map((c) => `<Cell ss:StyleID="h"><Data ss:Type="String">${xmlText(c.name)}</Data></Cell>`);
  return `<Worksheet ss:Name="${xmlText(name)}">\n<Table>\n<Row>${header.join('')}</Row>\n`;
}
export const SHEET_TAIL = '</Table>\n</Worksheet>\n';

/** A file name in the archive for a table: schema.table with anything but letters, digits, "_" and "-" as %XX. */
export function entryName(schema: string, table: string): string {
  const safe = (s: string) =>
    [...Buffer.from(s, 'utf8')]
      .map((b) =>
        /[A-Za-z0-9_-]/.test(String.fromCharCode(b))
          ? String.fromCharCode(b)
          : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
      )
      .join('');
  return `${safe(schema)}.${safe(table)}`;
}
