/**
 * The responder's checklist: what a person does after `rekey incident` has proven the leaked key dead. It ends the
 * incident report and the incident screen, one list for both: review the provider's logs, look for changes made with
 * the key and reverse them, tell people, check the consumers that were restarted, and, where the key is in git history,
 * rotate first and then scrub. The provider's own items (where its logs are, what an attacker changes there) come from
 * the runbook's `respond:` section; the rest from the run. Never a value, and never a file holding one: the one file
 * that must hold the key (git filter-repo's replacements) is for the person to write, and the text says how, with a
 * placeholder.
 */
import type { LeakSearchResult } from '../contract/leaks.js';
import { isClientBundle } from '../leak-search/index.js';
import type { RunSummary } from '../engine/summary.js';
import { formatSeconds, localTime } from '../util/time.js';

/** One item of the checklist: what to do, and the points that say how. */
export interface ChecklistItem {
  readonly title: string;
  readonly points: readonly string[];
}

/** Public pages the git history items rely on: GitHub's guide to removing sensitive data, and git filter-repo's manual. */
export const SCRUB_SOURCES = [
  'https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/removing-sensitive-data-from-a-repository',
  'https://github.com/newren/git-filter-repo/blob/main/Documentation/git-filter-repo.txt',
] as const;

/** The checklist of an incident run; empty for any other run. */
export function responderChecklist(summary: RunSummary): ChecklistItem[] {
  const incident = summary.incident;
  if (incident === undefined) return [];
  const until = new Date(incident.until);
  const provider = incident.provider ?? summary.runbook;
  const respond = incident.respond;
  const key = `${summary.oldMask ?? 'the old key'} (fingerprint \`${summary.oldFingerprint ?? '—'}\`)`;
  const since = localTime(new Date(incident.since), until);
  const dead = incident.provenDeadAt === undefined ? undefined : localTime(new Date(incident.provenDeadAt), until, true);
  const items: ChecklistItem[] = [];

  // 1. The provider's logs: where, for which key, over which window, and which requests were rekey's own.
  const calls = summary.calls ?? [];
  const logs = [
    respond?.logs === undefined
      ? `Look through ${provider}'s own logs for requests made with the old key (the runbook names no log page for ${provider}).`
      : `${respond.logs.text}${respond.logs.url === undefined ? '' : ` — ${respond.logs.url}`}`,
    `Look for ${key} from ${since}, when the leak began, ` +
      `${dead === undefined ? 'until now: it is not proven dead' : `until ${dead}, when it was proven dead`}.`,
  ];
  if (calls.length > 0) {
    const first = localTime(new Date(calls[0]!.sent), until, true);
    const last = localTime(new Date(calls.at(-1)!.answered), until, true);
    logs.push(
      `${calls.length === 1 ? 'One request' : `${calls.length} requests`} from ${first} to ${last} ${calls.length === 1 ? 'was' : 'were'} rekey's own ` +
        `(${tallyPurposes(calls.map((c) => c.purpose ?? `its step ${c.step}`))}): not the attacker's.`,
    );
  }
  items.push({ title: `Review ${provider}'s logs for what the leaked key did`, points: logs });

  // 2. Changes made with the key: the provider's list, then what holds for every provider.
  items.push({
    title: 'Look for changes made with the key, and reverse them',
    points: [
      ...(respond?.changes ?? []),
      'Anything created, changed or deleted in that window that your team did not do: reverse it (remove what was added, restore what was changed), ' +
        'and rotate every secret the key could read: a key that can read other keys leaked those too.',
    ],
  });

  // 3. Whom to tell.
  items.push({
    title: 'Tell the people who need to know',
    points: [
      `Your security or incident channel: which key (${summary.oldMask ?? 'its mask'} and fingerprint, never the key), since when, ` +
        `${dead === undefined ? 'that it is not proven dead yet' : `that it is dead since ${dead}`}, and where it leaked ("Where it leaked" in the report).`,
      ...(respond?.notify ?? []),
      'If the key could reach customer data or money: whoever decides on disclosure (security, legal, data protection), today — ' +
        'some rules count their deadlines from when you learned of it.',
    ],
  });

  // 4. The consumers: the rollout hooks that restarted them, as they ran.
  const hooks = summary.timeline.filter((e) => e.step.startsWith('hook:'));
  items.push({
    title: 'Check the consumers that were restarted',
    points:
      hooks.length === 0
        ? [
            'No rollout hook ran: a process that read the old key when it started keeps it in memory until it restarts. Restart every consumer of ' +
              `${summary.stores.join(', ')} by hand, and give the credential rollout hooks so the next run does it.`,
          ]
        : [
            ...hooks.map((h) => {
              const how =
                h.result === 'done' ? `restarted (${formatSeconds(h.ms)})` : `${h.result === 'failed' ? '**failed**' : 'not run'}: restart it by hand`;
              return `\`${h.name}\`: ${how}${h.detail ? ` — ${h.detail}` : ''}`;
            }),
            `Check each is healthy on the new key ${summary.newMask ?? ''}, and look for any consumer rekey does not know about: ` +
              `it now fails with ${provider}'s rejection.`,
          ],
  });

  const leak = incident.leak !== undefined && !('notSearched' in incident.leak) ? (incident.leak as LeakSearchResult) : undefined;
  if (leak !== undefined) items.push(...leakItems(leak, dead));
  return items;
}

/** What to do where the key was found: scrub the git history (rotate first), remove the copies on disk. */
function leakItems(leak: LeakSearchResult, dead: string | undefined): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  if (leak.commits.length > 0 || leak.totals.blobs > 0) {
    const first = leak.commits[0];
    const copy =
      first === undefined
        ? 'copy it from the file the leak search names'
        : `copy it from \`git show ${first.commit.slice(0, 12)}:${first.path}\`, line ${first.lines[0] ?? 1}` +
          `${first.encoding ? ` (${first.encoding}-encoded there: decode it)` : ''}`;
    items.push({
      title: 'Rotate first, then scrub the git history',
      points: [
        dead === undefined
          ? '**Rotate first:** the key is not proven dead. Make sure it is before you touch the history: a rewrite does not un-leak it ' +
            '(every clone, fork and cache keeps it), and the force-push shows watchers where to look.'
          : `**Rotated first:** the key was proven dead at ${dead}, so the history now holds a dead key. Scrubbing is still worth it ` +
            '(scanners keep flagging it, and a copy invites reuse), and it changes the id of every commit from the first one above on.',
        'Write the replacements file yourself, outside the repository (rekey never writes the key to a file): one line, `<the old key>==>REMOVED`, ' +
          `with the key itself in place of the placeholder — ${copy}. In a shell: \`read -rs OLD_KEY\` (paste; nothing is echoed), then ` +
          '`printf \'%s==>REMOVED\\n\' "$OLD_KEY" > ../replacements.txt && unset OLD_KEY`.',
        'In a fresh clone: `git filter-repo --replace-text ../replacements.txt`, then delete the file (`shred -u ../replacements.txt`).',
        'Force-push every branch and tag (`git remote add origin <url>` first: filter-repo removes it; `git push --force --all && git push --force --tags`). ' +
          'Branch protection must allow the force-push for the time.',
        'Every clone made before the rewrite still holds the key, and a pull and push from one brings it back: ' +
          'everyone re-clones (people, CI runners, deploy hosts); nobody merges.',
        'Cached views keep the old commits: forks, pull-request refs (`refs/pull/*` on GitHub, which no push changes) and ' +
          "the host's cached commit pages — ask the " +
          "host's support to purge them — and CI caches, build artifacts and images built from those commits.",
        `Sources: ${SCRUB_SOURCES.join(', ')}.`,
      ],
    });
  }
  const points: string[] = [];
  if (leak.files.some((f) => isClientBundle(f.path)))
    points.push('A client bundle holds the key: it was public to every browser that loaded it. Rebuild and redeploy without it, and purge CDN caches.');
  if (leak.files.some((f) => f.kind !== 'ignored' && !isClientBundle(f.path)))
    points.push(
      'Remove the key from the working-tree files under "Where it leaked" (it is dead, but a copy invites reuse), and do not commit them as they are.',
    );
  if (leak.files.some((f) => f.kind === 'ignored' && !isClientBundle(f.path)))
    points.push('Delete the local copies git ignores (backups, dumps): they were never committed, but they are on this disk.');
  const everything = leak.complete.tree && (leak.complete.history || leak.git !== 'repository');
  if (leak.files.length === 0 && leak.commits.length === 0 && leak.totals.blobs === 0)
    points.push(
      everything
        ? 'Not in these files: look at CI logs, chat, tickets, screenshots and paste sites.'
        : 'Nothing found so far, but the search was incomplete: search the rest by hand (by fingerprint, never by pasting the key into a search box).',
    );
  if (points.length > 0) items.push({ title: 'Clean up where it leaked', points });
  return items;
}

/** `its verify of the new key ×2, its check of the old key before the run`. */
function tallyPurposes(purposes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const p of purposes) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([p, n]) => (n === 1 ? p : `${p} ×${n}`)).join(', ');
}

/** The checklist as the report's last section. */
export function checklistMarkdown(items: readonly ChecklistItem[], sources: readonly string[] = []): string[] {
  if (items.length === 0) return [];
  const lines = ['## What to do next', ''];
  for (const [i, item] of items.entries()) lines.push(`${i + 1}. **${item.title}**`, ...item.points.map((p) => `   - ${p.replace(/\n/g, ' ')}`));
  if (sources.length > 0) lines.push('', `_The provider's items come from its public pages: ${sources.join(', ')}._`);
  lines.push('');
  return lines;
}

/** The checklist as the incident screen's last lines: the same items, without Markdown emphasis. */
export function checklistLines(items: readonly ChecklistItem[]): string[] {
  if (items.length === 0) return [];
  const unbold = (text: string) => text.replace(/\*\*([^*]+)\*\*/g, '$1');
  return ['What to do next:', ...items.flatMap((item, i) => [`  ${i + 1}. ${item.title}`, ...item.points.map((p) => `     - ${unbold(p)}`)])];
}
