/** `rekey drill <credential>`: a timed rotation with a person at the keyboard; stores are checked before anything is minted. */
import { createSink } from '../ui/sink.js';
import { ExitCode, InputError } from '../util/errors.js';
import { parseDuration } from '../util/duration.js';
import { credentialOf, interactionFor, openConfig, rotateCredential, type CommandInput, type Globals } from './common.js';
import { checkStores } from './check.js';

export default async function drill(input: CommandInput, globals: Globals): Promise<number> {
  const config = await openConfig(globals);
  let credential = credentialOf(config, String(input.args[0]));
  if (typeof input.options['budget'] === 'string') {
    const budgetMs = parseDuration(input.options['budget']);
    if (budgetMs === undefined) throw new InputError(`--budget ${input.options['budget']}: expected a duration such as 5m or 120s`);
    credential = { ...credential, budgetMs };
  }
  const json = globals.json === true;
  const sink = createSink(json);
  // A drill never mints a key it cannot roll out: every store is read and checked first.
  const checked = await checkStores(config, [credential], sink, json);
  if (checked !== ExitCode.done) return checked;
  const interaction = await interactionFor(input.options, sink, true);
  return (await rotateCredential({ config, credential, mode: 'drill', sink, interaction, json })).code;
}
