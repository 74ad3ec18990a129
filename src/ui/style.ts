/** Colour only on a terminal and never with NO_COLOR (https://no-color.org). */
const enabled = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && !('NO_COLOR' in process.env && process.env['NO_COLOR'] !== '') && process.env['TERM'] !== 'dumb';

export function styler(stream: NodeJS.WriteStream = process.stdout) {
  const on = enabled(stream);
  const wrap = (open: number, close: number) => (text: string) => (on ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return { on, bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}
