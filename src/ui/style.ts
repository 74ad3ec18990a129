/**
 * What rekey may send to a terminal beyond plain text. Two separate questions:
 *
 * - Colour (SGR codes, `ESC [ … m`): only on a terminal, never with NO_COLOR set and not empty, never with TERM=dumb.
 * - Cursor control (`\r`, `ESC [ K` erase line, `ESC 7`/`ESC 8` save and restore, `ESC [ 1 A` line up), which redraws
 *   the live ticker and the status line above a prompt: on any terminal but TERM=dumb. NO_COLOR does NOT turn it off,
 *   on purpose: https://no-color.org asks programs to drop colour, and a person who sets it still wants the run clock
 *   to tick in place instead of printing a new line twice a second. TERM=dumb (no cursor addressing) gets plain lines
 *   and prompts without a single escape sequence.
 */
const enabled = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && !('NO_COLOR' in process.env && process.env['NO_COLOR'] !== '') && process.env['TERM'] !== 'dumb';

/** Whether lines may be redrawn in place (see above): a terminal that is not TERM=dumb, whatever NO_COLOR says. */
export function cursorControl(stream: Pick<NodeJS.WriteStream, 'isTTY'>): boolean {
  return stream.isTTY === true && process.env['TERM'] !== 'dumb';
}

export function styler(stream: NodeJS.WriteStream = process.stdout) {
  const on = enabled(stream);
  const wrap = (open: number, close: number) => (text: string) => (on ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return {
    on,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    blue: wrap(34, 39),
    magenta: wrap(35, 39),
    cyan: wrap(36, 39),
  };
}
