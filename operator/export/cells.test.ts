import { describe, expect, it } from 'vitest';
import { CELL_TEXT_LIMIT, csvLine, entryName, kindOf, sheetName, xmlCell, xmlText } from './cells.js';
import { copyField, expiredExports } from './runner.js';

describe('export cells', () => {
  it('types a column by its category, arrays as text', () => {
    expect(kindOf({ name: 'a', type: 'bigint', category: 'N' })).toBe('number');
    expect(kindOf({ name: 'a', type: 'integer[]', category: 'A' })).toBe('text');
    expect(kindOf({ name: 'a', type: 'boolean', category: 'B' })).toBe('boolean');
    expect(kindOf({ name: 'a', type: 'date', category: 'D' })).toBe('date');
    expect(kindOf({ name: 'a', type: 'timestamp(3) with time zone', category: 'D' })).toBe('timestamp');
    expect(kindOf({ name: 'a', type: 'interval', category: 'T' })).toBe('text');
    expect(kindOf({ name: 'a', type: 'time without time zone', category: 'D' })).toBe('text');
  });

  it('writes RFC 4180 lines: CRLF, quotes only where needed, NULL empty and the empty text ""', () => {
    expect(
      csvLine(
        ['1', 'plain', null, '', 'a,b', 'say "hi"', 'two\nlines', 'true'],
        ['number', 'text', 'text', 'text', 'text', 'text', 'text', 'boolean'],
      ),
    ).toBe('1,plain,,"","a,b","say ""hi""","two\nlines",true\r\n');
    expect(csvLine(['f', 'false'], ['boolean', 'boolean'])).toBe('false,false\r\n');
  });

  it('makes numbers cells only when a spreadsheet keeps every digit', () => {
    expect(xmlCell('42', 'number').xml).toBe('<Cell><Data ss:Type="Number">42</Data></Cell>');
    expect(xmlCell('-0.125', 'number').xml).toContain('ss:Type="Number"');
    expect(xmlCell('123456789012345', 'number').xml).toContain('ss:Type="Number"');
    expect(xmlCell('0.000000000000001', 'number').xml).toContain('ss:Type="Number"');
    for (const text of [
      '1234567890123456',
      '9007199254740993',
      '0.30000000000000004',
      'NaN',
      'Infinity',
      '1e+20',
      '$1,234.00',
    ])
      expect(xmlCell(text, 'number').xml).toBe(`<Cell><Data ss:Type="String">${text}</Data></Cell>`);
  });

  it('makes dates and times from 1900 on date cells in milliseconds, others text', () => {
    expect(xmlCell('2024-02-29', 'date').xml).toBe(
      '<Cell ss:StyleID="d"><Data ss:Type="DateTime">2024-02-29T00:00:00.000</Data></Cell>',
    );
    expect(xmlCell('2024-01-15 08:30:00.123456+00', 'timestamp').xml).toBe(
      '<Cell ss:StyleID="t"><Data ss:Type="DateTime">2024-01-15T08:30:00.123</Data></Cell>',
    );
    expect(xmlCell('2024-01-15 08:30:00', 'timestamp').xml).toContain('2024-01-15T08:30:00.000');
    for (const text of ['infinity', '-infinity', '1899-12-31', '0044-03-15 12:00:00 BC', '12024-01-01'])
      expect(xmlCell(text, 'date').xml).toContain('ss:Type="String"');
  });

  it('writes booleans as 1 and 0 shown TRUE and FALSE, and NULL as an empty cell', () => {
    expect(xmlCell('true', 'boolean').xml).toBe('<Cell ss:StyleID="b"><Data ss:Type="Number">1</Data></Cell>');
    expect(xmlCell('false', 'boolean').xml).toContain('>0<');
    expect(xmlCell(null, 'number').xml).toBe('<Cell/>');
  });

  it('escapes text for XML, keeps line breaks, and replaces what XML cannot carry', () => {
    expect(xmlText('a<b>&"c"\r\nd')).toBe('a&lt;b&gt;&amp;&quot;c&quot;&#13;&#10;d');
    expect(xmlText('bell\u0007 tab\t')).toBe('bell\uFFFD tab\t');
    expect(xmlText('emoji 😀 lone \uD800')).toBe('emoji 😀 lone \uFFFD');
  });

  it('cuts text at a cell limit without splitting a character, and says so', () => {
    const long = `${'x'.repeat(CELL_TEXT_LIMIT - 1)}😀tail`;
    const cell = xmlCell(long, 'text');
    expect(cell.cut).toBe(true);
    expect(cell.xml).toContain(`${'x'.repeat(CELL_TEXT_LIMIT - 1)}😀</Data>`);
    expect(xmlCell('x'.repeat(CELL_TEXT_LIMIT), 'text').cut).toBe(false);
  });

  it('names worksheets within 31 characters without the characters Excel refuses', () => {
    expect(sheetName('entries', 1)).toBe('entries');
    expect(sheetName('entries', 2)).toBe('entries (2)');
    expect(sheetName('a/b:c*d?[e]\\f', 1)).toBe('a_b_c_d__e__f');
    expect(sheetName('x'.repeat(40), 12)).toBe(`${'x'.repeat(26)} (12)`);
    expect(sheetName("'quoted'", 1)).toBe('quoted');
  });

  it('names archive files by schema and table, anything unsafe as %XX', () => {
    expect(entryName('public', 'time_entries')).toBe('public.time_entries');
    expect(entryName('public', 'Weird "name"/x')).toBe('public.Weird%20%22name%22%2Fx');
    expect(entryName('ü', '.')).toBe('%C3%BC.%2E');
  });
});

describe("COPY's text format", () => {
  it('reads \\N as NULL and undoes the backslash escapes, leaving other text alone', () => {
    expect(copyField('\\N')).toBeNull();
    expect(copyField('')).toBe('');
    expect(copyField('N')).toBe('N');
    expect(copyField('a\\tb\\nc\\rd\\\\e')).toBe('a\tb\nc\rd\\e');
    expect(copyField('\\\\N')).toBe('\\N');
    // bytea's text, as COPY writes it: the backslash doubled.
    expect(copyField('\\\\x00ff')).toBe('\\x00ff');
  });
});

describe('export retention', () => {
  const keys = [
    'ws/exports/2025-11-29.zip.age',
    'ws/exports/2025-11-29.json',
    'ws/exports/2025-11-30.zip.age',
    'ws/exports/2025-12-01.zip.age',
    'ws/exports/2026-11-30.zip.age',
    'ws/exports/notes.txt',
    'ws/exports/.2024-01-01.zip.age.partial-0123456789abcdef',
  ];

  it('drops the exports of retentionDays or more days before today, nothing else', () => {
    expect(expiredExports(keys, '2026-11-30', 365)).toEqual([
      'ws/exports/2025-11-29.zip.age',
      'ws/exports/2025-11-29.json',
      'ws/exports/2025-11-30.zip.age',
    ]);
    expect(expiredExports(keys, '2026-11-30', 1)).toHaveLength(4);
    expect(expiredExports(keys, '2026-11-30', 3650)).toEqual([]);
  });
});
