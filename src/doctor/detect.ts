/**
 * `rekey init`'s reading of a project: which variables of its `.env` files look like keys of the providers rekey has
 * runbooks for, by name and by the runbooks' `secret.pattern`. Values are tested in memory and never kept in what is
 * returned: a detection names the file, the variable and the runbook, nothing else.
 */
import type { Runbook } from '../contract/runbook.js';
import { secretPattern } from '../contract/runbook.js';

/** The providers `init` knows by name, with the variable names that name them (checked in this order). */
const BY_NAME: ReadonlyArray<{ runbook: string; name: RegExp }> = [
  { runbook: 'streampixel', name: /STREAMPIXEL.*(KEY|TOKEN|SECRET)/ },
  { runbook: 'stripe', name: /STRIPE.*(SECRET|RESTRICTED|API)_?KEY|STRIPE_(SK|KEY)$/ },
  { runbook: 'discord-bot', name: /DISCORD.*TOKEN/ },
  { runbook: 'github-token', name: /^(GH|GITHUB)_(PAT|TOKEN)$|GITHUB.*(TOKEN|PAT)/ },
  { runbook: 'paypal', name: /PAYPAL.*SECRET/ },
  { runbook: 'webhook-url-token', name: /WEBHOOK.*(TOKEN|SECRET)/ },
];

/** Names that are public by design (a publishable key, a client id): never rotated as secrets. */
const PUBLIC = /PUBLISHABLE|PUBLIC|_PK$|CLIENT_ID|_URL$|_ID$/;
/** Names that look like a secret, for the variables no runbook claims: said, never guessed. */
const SECRETISH = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/;

export interface EnvFileVars {
  /** The file as shown (relative to the project), e.g. `.env` or `deploy/.env.production`. */
  readonly file: string;
  readonly vars: Readonly<Record<string, string>>;
}

export interface Detection {
  readonly file: string;
  readonly variable: string;
  readonly runbook: string;
  /** How it was told: by the variable's name, by its value's shape (the runbook's pattern), or both. */
  readonly by: 'name' | 'pattern' | 'name and pattern' | 'flag';
  /** A doubt to write as a comment beside it (the name says one thing and the value another). */
  readonly doubt?: string;
}

export interface Undecided {
  readonly file: string;
  readonly variable: string;
  readonly why: string;
}

export interface ProjectReading {
  readonly detections: Detection[];
  /** Variables that look like keys but that init could not assign to a runbook. */
  readonly undecided: Undecided[];
  /** Variables left out on purpose, with why (AWS key pairs, publishable keys). */
  readonly skipped: Undecided[];
}

/**
 * A runbook's pattern tells a key by its value only when it is specific: one that also accepts 64 random letters and
 * digits (PayPal's client secret, Streampixel's unconfirmed default) would claim any long value.
 */
const BROAD_SAMPLE = 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9rS1uV3xW5zA7cD9fG1iK3m';

function specificPattern(runbook: Runbook): RegExp | undefined {
  const defaults = Object.fromEntries(Object.entries(runbook.inputs).flatMap(([n, i]) => (i.default === undefined ? [] : [[n, i.default]])));
  let pattern: RegExp | undefined;
  try {
    pattern = secretPattern(runbook, defaults);
  } catch {
    return undefined;
  }
  return pattern === undefined || pattern.test(BROAD_SAMPLE) ? undefined : pattern;
}

/**
 * Read the variables of the .env files against the runbooks. `chosen` maps a variable (`NAME` or `file#NAME`) to a
 * runbook, or to `skip`, as the person said (a flag, or an answer): it wins over what init would tell.
 */
export function readProject(
  files: readonly EnvFileVars[],
  runbooks: ReadonlyMap<string, Runbook>,
  chosen: ReadonlyMap<string, string> = new Map(),
): ProjectReading {
  const detections: Detection[] = [];
  const undecided: Undecided[] = [];
  const skipped: Undecided[] = [];
  const patterns = [...runbooks.values()].flatMap((r) => {
    const p = specificPattern(r);
    return p === undefined ? [] : [{ runbook: r.name, pattern: p }];
  });
  for (const { file, vars } of files) {
    const names = Object.keys(vars);
    for (const variable of names) {
      const value = vars[variable]!;
      const said = chosen.get(`${file}#${variable}`) ?? chosen.get(variable);
      if (said === 'skip') {
        skipped.push({ file, variable, why: 'left out as you asked' });
        continue;
      }
      if (said !== undefined) {
        detections.push({ file, variable, runbook: said, by: 'flag' });
        continue;
      }
      if (/^AWS_(SECRET_ACCESS_KEY|ACCESS_KEY_ID|SESSION_TOKEN)$/.test(variable)) {
        skipped.push({
          file,
          variable,
          why:
            'an AWS access key kept as two variables: the aws-iam-access-key runbook rotates one credential_process JSON value ' +
            '({"Version":1,"AccessKeyId":…,"SecretAccessKey":…}) in a store such as AWS Secrets Manager; keep the pair there, or use a role',
        });
        continue;
      }
      if (value === '') continue;
      const byName = BY_NAME.find((n) => n.name.test(variable))?.runbook;
      const byValue = patterns.filter((p) => p.pattern.test(value)).map((p) => p.runbook);
      if (byName === undefined && byValue.length === 0) {
        if (PUBLIC.test(variable) || !SECRETISH.test(variable)) continue;
        undecided.push({ file, variable, why: 'its name says secret, but neither its name nor its value matches a provider rekey knows' });
        continue;
      }
      if (byName !== undefined && PUBLIC.test(variable)) continue;
      if (byName !== undefined && (byValue.length === 0 || byValue.includes(byName))) {
        const own = patterns.find((p) => p.runbook === byName);
        detections.push({
          file,
          variable,
          runbook: byName,
          by: byValue.includes(byName) ? 'name and pattern' : 'name',
          ...(own === undefined || byValue.includes(byName)
            ? {}
            : { doubt: `the value does not match runbook ${byName}'s key pattern: check it is a ${byName} key` }),
        });
      } else if (byValue.length === 1) {
        detections.push({
          file,
          variable,
          runbook: byValue[0]!,
          by: 'pattern',
          ...(byName === undefined ? {} : { doubt: `the name suggests ${byName}, the value's shape says ${byValue[0]}` }),
        });
      } else undecided.push({ file, variable, why: `its value matches the key patterns of ${byValue.join(' and ')}` });
    }
  }
  return { detections, undecided, skipped };
}

/**
 * An input's value found beside the key, for the inputs a runbook requires: `STREAMPIXEL_USER_ID` for `userId`,
 * `PAYPAL_CLIENT_ID` for `clientId`. Only a variable that is not a secret by its name, and not detected as a key.
 */
export function inputFromEnv(
  vars: Readonly<Record<string, string>>,
  input: string,
  keys: ReadonlySet<string>,
): { variable: string; value: string } | undefined {
  const wanted = input.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (const [variable, value] of Object.entries(vars)) {
    if (keys.has(variable) || value === '' || /KEY|TOKEN|SECRET|PASSWORD/.test(variable)) continue;
    if (
      variable
        .toLowerCase()
        .replace(/[^a-z0-9]/g, '')
        .endsWith(wanted)
    )
      return { variable, value };
  }
  return undefined;
}

/** A credential id from the variable and the .env's name: `STRIPE_SECRET_KEY` in `.env.production` → `stripe-secret-key-production`. */
export function credentialId(file: string, variable: string): string {
  const base = file.split('/').pop() ?? file;
  const suffix = base.startsWith('.env.') ? base.slice('.env.'.length) : '';
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')).split('/').pop() : undefined;
  return [variable, suffix, dir]
    .filter((p) => p !== undefined && p !== '')
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
}
