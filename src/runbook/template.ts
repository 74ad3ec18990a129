/**
 * `{{ new }}`, `{{ old }}`, `{{ inputs.userId }}`, `{{ run.id }}`, `{{ run.since }}`, `{{ credential }}` in runbook
 * strings. Rendering reports whether the result holds a secret, so that callers never print such a string.
 */
import type { TemplateVars } from '../contract/runbook.js';
import { Secret } from '../contract/secret.js';

const REFERENCE = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;

/** Variables a template may use besides `inputs.*`. */
const FIXED = ['new', 'old', 'run.id', 'run.since', 'run.started', 'credential'] as const;

/** The variable names a template refers to. */
export function references(template: string): string[] {
  return [...template.matchAll(REFERENCE)].map((m) => m[1]!);
}

/** Whether a template refers to a secret (`new` or `old`). */
export function refersToSecret(template: string): boolean {
  return references(template).some((name) => name === 'new' || name === 'old');
}

/** The first reference that is not a known variable, given the runbook's declared inputs. */
export function unknownReference(template: string, inputs: readonly string[]): string | undefined {
  return references(template).find((name) => !(FIXED as readonly string[]).includes(name) && !(name.startsWith('inputs.') && inputs.includes(name.slice(7))));
}

/**
 * Render a template. With `encode: 'url'`, each substituted value is percent-encoded, except one that opens the
 * template: that is the base URL (`{{ inputs.baseUrl }}/v1/…`), which must stay a URL.
 */
export function render(template: string, vars: TemplateVars, encode?: 'url'): { text: string; secret: boolean } {
  let secret = false;
  const text = template.replace(REFERENCE, (_match: string, name: string, offset: number) => {
    let value: string;
    if (name === 'new' || name === 'old') {
      const held = vars[name];
      if (held === undefined) throw new Error(`template uses {{ ${name} }} but no ${name} value is known at this step`);
      value = held.reveal();
      secret = true;
    } else if (name.startsWith('inputs.')) {
      const input = vars.inputs[name.slice(7)];
      if (input === undefined) throw new Error(`template uses {{ ${name} }} but the credential gives no such input`);
      value = input;
    } else if (name === 'run.id') value = vars.run.id;
    else if (name === 'run.since') value = vars.run.since;
    else if (name === 'run.started') value = vars.run.started;
    else if (name === 'credential') value = vars.credential;
    else throw new Error(`unknown template variable {{ ${name} }}`);
    return encode === 'url' && offset > 0 ? encodeURIComponent(value) : value;
  });
  return { text, secret };
}

/** Render a template that may hold a secret into a Secret (registered with the redactor) or plain text. */
export function renderSecret(template: string, vars: TemplateVars): Secret | string {
  const { text, secret } = render(template, vars);
  return secret ? new Secret(text) : text;
}
