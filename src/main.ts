// The gantry executable (bin/gantry.js runs it): the CLI's commands, which speak HTTP only, composed with
// the commands that run a Gantry process on this host (src/host/: the server, its database, the agent).
// Only the modules of the command being run are loaded (registerGroups), so a command starts fast.
import { cliCommandGroups } from './cli/commands.js';
import { createProgram, registerGroups, runProgram } from './cli/program.js';
import { agentHostGroups, serverHostGroups } from './host/commands.js';

const program = createProgram();
await registerGroups(program, [...serverHostGroups, ...cliCommandGroups, ...agentHostGroups]);
runProgram(program);
