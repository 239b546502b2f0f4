import { UsageError } from './args.js';
import { COMMANDS, type Command } from './command.js';
import { EXIT } from './exit-codes.js';

// Options after which an app name is expected.
const APP_OPTIONS = '-a|--app';
const names = () => COMMANDS.flatMap((command) => [command.name, ...(command.aliases ?? [])]).join(' ');

function bash(): string {
  return `# appm completion for bash: source <(appm completion bash)
_appm() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names()}" -- "$cur") )
    return
  fi
  case "$prev" in
    ${APP_OPTIONS})
      COMPREPLY=( $(compgen -W "$(appm __complete apps 2>/dev/null)" -- "$cur") )
      return ;;
    -l|--local|-r|--remote|-D|--stdin|-j|--json)
      COMPREPLY=( $(compgen -f -- "$cur") )
      return ;;
    --format)
      COMPREPLY=( $(compgen -W "table json yaml" -- "$cur") )
      return ;;
  esac
  if [ "\${COMP_WORDS[1]}" = completion ]; then
    COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") )
    return
  fi
  COMPREPLY=( $(compgen -W "$(appm __complete options "\${COMP_WORDS[1]}" 2>/dev/null)" -- "$cur") )
}
complete -F _appm appm
`;
}

function zsh(): string {
  const described = COMMANDS.map((command) => `    '${command.name}:${command.summary.replace(/'/g, '')}'`).join('\n');
  return `#compdef appm
# appm completion for zsh: source <(appm completion zsh)
_appm() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'appm command' commands
    return
  fi
  case "\${words[CURRENT-1]}" in
    ${APP_OPTIONS})
      local -a apps
      apps=(\${(f)"$(appm __complete apps 2>/dev/null)"})
      compadd -a apps
      return ;;
    -l|--local|-r|--remote|-D|--stdin|-j|--json)
      _files
      return ;;
    --format)
      compadd table json yaml
      return ;;
  esac
  if [[ "\${words[2]}" == completion ]]; then
    compadd bash zsh
    return
  fi
  local -a options
  options=(\${(f)"$(appm __complete options "\${words[2]}" 2>/dev/null)"})
  compadd -a options
}
if [[ "$funcstack[1]" == "_appm" ]]; then _appm "$@"; else compdef _appm appm; fi
`;
}

const completion: Command = {
  spec: { positionals: true },
  help: `Usage: appm completion bash|zsh

Prints the completion script of a shell. App names after -a come from the daemon (with the
stored session).
  bash:  source <(appm completion bash)      (or save it in /etc/bash_completion.d/appm)
  zsh:   source <(appm completion zsh)       (or save it as _appm in your $fpath)`,
  async run(context) {
    const shell = context.args.positionals[0];
    if (shell === 'bash') process.stdout.write(bash());
    else if (shell === 'zsh') process.stdout.write(zsh());
    else throw new UsageError('completion needs bash or zsh');
    return EXIT.ok;
  },
};

/** What the completion scripts ask for: app names, or the options of a command. Quiet on failure. */
const complete: Command = {
  spec: { positionals: true },
  help: 'Usage: appm __complete apps | options COMMAND',
  async run(context) {
    const [what, command] = context.args.positionals;
    if (what === 'apps') {
      const client = await context.client();
      for (const app of await client.apps.list()) process.stdout.write(`${app.name}\n`);
      return EXIT.ok;
    }
    if (what === 'options' && command) {
      const { findCommand } = await import('./command.js');
      const entry = findCommand(command);
      if (!entry) return EXIT.usage;
      const loaded = (await import(`./${entry.group}.js`)) as { commands: Record<string, Command> };
      const spec = loaded.commands[entry.name].spec;
      const short = Object.entries(spec.short ?? {}).map(([letter]) => `-${letter}`);
      const long = [...(spec.switches ?? []), ...(spec.options ?? []), ...(spec.repeatable ?? [])].map((name) => `--${name}`);
      process.stdout.write([...short, ...long].join('\n') + '\n');
      return EXIT.ok;
    }
    return EXIT.usage;
  },
};

export const commands: Record<string, Command> = { completion, __complete: complete };
