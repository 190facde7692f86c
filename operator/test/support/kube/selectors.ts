/**
 * Label and field selectors as the Kubernetes API server parses them
 * (k8s.io/apimachinery/pkg/labels and pkg/fields): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x,y)`, `a` (exists) and `!a` (does not exist), joined by commas.
 */

export type Labels = Readonly<Record<string, string>>;
export type Matcher = (labels: Labels) => boolean;

/** A selector the server cannot parse; the server answers 400 BadRequest with this message. */
export class SelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const character of selector) {
    if (character === '(') depth += 1;
    if (character === ')') depth -= 1;
    if (character === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += character;
  }
  if (current.trim() !== '') terms.push(current.trim());
  return terms.filter((term) => term !== '');
}

const SET_TERM = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)$/;
const EQUALITY_TERM = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/;
const EXISTS_TERM = /^(!?)\s*([A-Za-z0-9._/-]+)$/;

function parseLabelTerm(term: string): Matcher {
  const set = SET_TERM.exec(term);
  if (set !== null) {
    const [, key, operator, list] = set as unknown as [string, string, string, string];
    const values = new Set(list.split(',').map((value) => value.trim()));
    return operator === 'in'
      ? (labels) => labels[key] !== undefined && values.has(labels[key])
      : (labels) => labels[key] === undefined || !values.has(labels[key]);
  }
  const equality = EQUALITY_TERM.exec(term);
  if (equality !== null) {
    const [, key, operator, value] = equality as unknown as [string, string, string, string];
    return operator === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
  }
  const exists = EXISTS_TERM.exec(term);
  if (exists !== null) {
    const [, negation, key] = exists as unknown as [string, string, string];
    return negation === '!' ? (labels) => labels[key] === undefined : (labels) => labels[key] !== undefined;
  }
  throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
}

export function parseLabelSelector(selector: string | null | undefined): Matcher {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true;
  const matchers = splitTerms(selector).map(parseLabelTerm);
  return (labels) => matchers.every((matcher) => matcher(labels));
}

/** A LabelSelector object (`matchLabels`, `matchExpressions`) as PDBs, NetworkPolicies and affinities use. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function matchesSelectorObject(selector: LabelSelectorObject | undefined, labels: Labels): boolean {
  if (selector === undefined) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  return (selector.matchExpressions ?? []).every((expression) =>
    matchesExpression(expression, labels[expression.key]),
  );
}

/** One node-selector or label-selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt). */
export function matchesExpression(
  expression: { operator: string; values?: string[] },
  value: string | undefined,
): boolean {
  const values = expression.values ?? [];
  switch (expression.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

export type FieldGetter = (object: unknown, field: string) => string | undefined;

/** Field selectors: only `=`, `==` and `!=` on the fields each resource supports. */
export function parseFieldSelector(
  selector: string | null | undefined,
  supported: readonly string[],
): (fields: (field: string) => string | undefined) => boolean {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true;
  const terms = splitTerms(selector).map((term) => {
    const match = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (match === null)
      throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field, operator, value] = match as unknown as [string, string, string, string];
    if (!supported.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    return { field, negate: operator === '!=', value };
  });
  return (fields) => terms.every((term) => (fields(term.field) === term.value) !== term.negate);
}
