// Freeze windows: recurring (RRULE in a time zone, with a duration) or one-off; validated on save.
import rrulePkg from 'rrule';
import { z } from 'zod';

const { rrulestr } = rrulePkg;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const base = {
  name: z.string().min(1).max(100),
  reason: z.string().max(500).optional(),
};

export const recurringFreeze = z.strictObject({
  ...base,
  kind: z.literal('recurring'),
  rrule: z
    .string()
    .min(6)
    .max(500)
    .refine((s) => {
      try {
        rrulestr(s.startsWith('RRULE:') || s.includes('\n') ? s : `RRULE:${s}`);
        return /FREQ=/.test(s);
      } catch {
        return false;
      }
    }, 'must be an RFC 5545 RRULE such as "FREQ=WEEKLY;BYDAY=FR;BYHOUR=18;BYMINUTE=0"'),
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "Europe/Berlin"'),
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(60 * 24 * 31),
});

export const oneOffFreeze = z
  .strictObject({
    ...base,
    kind: z.literal('one_off'),
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
  })
  .refine((w) => Date.parse(w.end) > Date.parse(w.start), { message: 'end must be after start', path: ['end'] });

export const freezeWindow = z.discriminatedUnion('kind', [recurringFreeze, oneOffFreeze]);
export const freezeWindows = z
  .array(freezeWindow)
  .max(100)
  .refine((ws) => new Set(ws.map((w) => w.name)).size === ws.length, 'freeze window names must be unique');
export type FreezeWindow = z.infer<typeof freezeWindow>;
