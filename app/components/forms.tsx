import type { ReactNode } from 'react';

export function Field(props: {
  label: string;
  name: string;
  type?: string;
  autoComplete?: string;
  required?: boolean;
  defaultValue?: string;
  hint?: string | undefined;
  inputMode?: 'numeric' | 'text';
  autoFocus?: boolean;
  pattern?: string;
  /** What the server refused about this field. */
  error?: string | undefined;
  onChange?: (value: string) => void;
  /** When one page has several forms with a field of this name. */
  id?: string;
  disabled?: boolean;
}) {
  const id = props.id ?? `f-${props.name}`;
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={props.error ? 'field invalid' : 'field'}>
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        autoComplete={props.autoComplete}
        required={props.required}
        defaultValue={props.defaultValue}
        inputMode={props.inputMode}
        autoFocus={props.autoFocus}
        pattern={props.pattern}
        disabled={props.disabled}
        onChange={props.onChange ? (e) => props.onChange!(e.currentTarget.value) : undefined}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={described || undefined}
      />
      <FieldError id={`${id}-error`} error={props.error} />
      {props.hint ? <small id={`${id}-hint`}>{props.hint}</small> : null}
    </div>
  );
}

export function FieldError({ id, error }: { id: string; error: string | undefined }) {
  return error ? (
    <small id={id} className="field-error" role="alert">
      {error}
    </small>
  ) : null;
}

export function Select(props: {
  label: string;
  name: string;
  options: readonly (string | { value: string; label: string })[];
  defaultValue?: string | undefined;
  hint?: string;
  error?: string | undefined;
}) {
  const id = `f-${props.name}`;
  return (
    <div className={props.error ? 'field invalid' : 'field'}>
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        name={props.name}
        defaultValue={props.defaultValue}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? `${id}-error` : props.hint ? `${id}-hint` : undefined}
      >
        {props.options.map((o) =>
          typeof o === 'string' ? (
            <option key={o} value={o}>
              {o}
            </option>
          ) : (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ),
        )}
      </select>
      <FieldError id={`${id}-error`} error={props.error} />
      {props.hint ? <small id={`${id}-hint`}>{props.hint}</small> : null}
    </div>
  );
}

export function Notice({ kind, children }: { kind: 'error' | 'ok' | 'info'; children: ReactNode }) {
  return (
    <div className={`notice ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Csrf({ token }: { token: string }) {
  return <input type="hidden" name="_csrf" value={token} />;
}

/** A form field's trimmed text, or undefined when it is absent or blank. */
export function filled(form: FormData, name: string): string | undefined {
  const v = form.get(name);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}
