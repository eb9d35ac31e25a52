import { Link, useSearchParams } from '@remix-run/react';
import type { ReactNode } from 'react';

/** A column header that sorts the table through the URL, so a sorted page can be shared. */
export function SortHeader({ column, children }: { column: string; children: ReactNode }) {
  const [params] = useSearchParams();
  const active = (params.get('sort') ?? 'name') === column;
  const descending = active && params.get('desc') === 'true';
  const next = new URLSearchParams(params);
  next.set('sort', column);
  next.set('desc', String(active && !descending));
  next.delete('page');
  return (
    <th scope="col" aria-sort={active ? (descending ? 'descending' : 'ascending') : 'none'}>
      <Link to={`?${next.toString()}`} preventScrollReset>
        {children}
        {active ? (descending ? ' ▼' : ' ▲') : ''}
      </Link>
    </th>
  );
}

export function Pager({
  page,
  pageSize,
  total,
  label,
}: {
  page: number;
  pageSize: number;
  total: number;
  label: string;
}) {
  const [params] = useSearchParams();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const to = (p: number) => {
    const next = new URLSearchParams(params);
    next.set('page', String(p));
    return `?${next.toString()}`;
  };
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <span>
        {first}–{Math.min(page * pageSize, total)} of {total}
      </span>
      {page > 1 ? (
        <Link to={to(page - 1)} rel="prev">
          Previous
        </Link>
      ) : (
        <span aria-disabled="true" className="muted">
          Previous
        </span>
      )}
      <span>
        Page {page} of {pages}
      </span>
      {page < pages ? (
        <Link to={to(page + 1)} rel="next">
          Next
        </Link>
      ) : (
        <span aria-disabled="true" className="muted">
          Next
        </span>
      )}
    </nav>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'idle'; children: ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}

export function when(iso: string | Date | null | undefined): string {
  if (!iso) return '—';
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
