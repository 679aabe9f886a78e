// The gantry executable (bin/gantry.js runs it): the CLI's commands, which speak HTTP only, composed with
// the commands that run on the server host (src/host/).
import { registerCommands } from './cli/commands.js';
import { createProgram, runProgram } from './cli/program.js';
import { registerHostCommands } from './host/commands.js';

const program = createProgram();
registerHostCommands(program);
registerCommands(program);
runProgram(program);
