// The crashing variant of the change-window example: what a buggy plugin does to Gantry (nothing but
// failing its own gate). mode "crash" kills its process with an uncaught error, "hang" never answers,
// "throw" rejects the call.
export const gates = {
  'change-window'({ instanceConfig }) {
    const mode = instanceConfig.mode ?? 'crash';
    if (mode === 'throw') throw new Error('the change calendar answered 500');
    return new Promise(() => {
      if (mode === 'crash') {
        setTimeout(() => {
          throw new Error('segfault in the change calendar client');
        }, 10);
      }
      // "hang": never settles
    });
  },
};
