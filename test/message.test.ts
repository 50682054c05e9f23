import { describe, expect, it } from 'vitest';
import { checkPriority, message } from 'ringkernel';

describe('message()', () => {
  it('returns the fields plus id, priority 128 and no correlationId by default', () => {
    const m = message({ text: 'hello', n: 1 });
    expect(m.text).toBe('hello');
    expect(m.n).toBe(1);
    expect(typeof m.id).toBe('string');
    expect(m.id.length).toBeGreaterThan(0);
    expect(m.priority).toBe(128);
    expect(m.correlationId).toBeUndefined();
    expect(Object.keys(m).sort()).toEqual(['correlationId', 'id', 'n', 'priority', 'text']);
  });

  it('gives every message a different id', () => {
    const seen = new Set(Array.from({ length: 10_000 }, () => message({}).id));
    expect(seen.size).toBe(10_000);
  });

  it('takes the priority from the options', () => {
    expect(message({}, { priority: 7 }).priority).toBe(7);
    expect(message({}, { priority: 0 }).priority).toBe(0);
    expect(message({}, { priority: 255 }).priority).toBe(255);
  });

  it("takes the priority from the fields' own priority when the options have none", () => {
    expect(message({ priority: 42 }).priority).toBe(42);
    expect(message({ priority: 0 }).priority).toBe(0);
  });

  it("the options' priority wins over the fields' priority", () => {
    expect(message({ priority: 42 }, { priority: 3 }).priority).toBe(3);
  });

  it('sets correlationId', () => {
    expect(message({}, { correlationId: 'req-1' }).correlationId).toBe('req-1');
  });

  it('the generated id replaces an id in the fields', () => {
    const m = message({ id: 'mine' });
    expect(m.id).not.toBe('mine');
  });

  it('does not modify the fields object', () => {
    const fields = { a: 1, priority: 9 };
    const m = message(fields, { priority: 1, correlationId: 'c' });
    expect(fields).toEqual({ a: 1, priority: 9 });
    expect(m).not.toBe(fields);
  });

  it.each([-1, 256, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects priority %s with RangeError', (priority) => {
    expect(() => message({}, { priority })).toThrow(RangeError);
    expect(() => message({ priority })).toThrow(RangeError);
  });

  it('rejects a priority that is not a number with TypeError', () => {
    expect(() => message({}, { priority: '5' as any })).toThrow(TypeError);
    expect(() => message({ priority: '5' })).toThrow(TypeError);
  });

  it('rejects a correlationId that is not a string with TypeError', () => {
    expect(() => message({}, { correlationId: 5 as any })).toThrow(TypeError);
  });

  it('rejects fields that are not an object with TypeError', () => {
    expect(() => message(null as any)).toThrow(TypeError);
    expect(() => message('text' as any)).toThrow(TypeError);
  });
});

describe('checkPriority()', () => {
  it('returns 128 for undefined', () => {
    expect(checkPriority(undefined)).toBe(128);
  });

  it('returns every integer in 0..255 unchanged', () => {
    for (let p = 0; p <= 255; p++) expect(checkPriority(p)).toBe(p);
  });

  it.each([-1, 256, 1000, 2 ** 32, 0.5, 254.9, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'throws RangeError for %s',
    (p) => {
      expect(() => checkPriority(p)).toThrow(RangeError);
    },
  );

  it.each(['5', null, true, {}, 5n])('throws TypeError for %s', (p) => {
    expect(() => checkPriority(p)).toThrow(TypeError);
  });
});
