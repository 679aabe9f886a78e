// The gantry executable (bin/gantry.js runs it): the CLI's commands, which speak HTTP only, composed with
// the commands that run a Gantry process on this host (src/host/: the server, its database, the agent).
import { registerCommands } from './cli/commands.js';
import { createProgram, runProgram } from './cli/program.js';
import { registerAgentHostCommands, registerServerHostCommands } from './host/commands.js';

const program = createProgram();
registerServerHostCommands(program);
registerCommands(program);
registerAgentHostCommands(program);
runProgram(program);
