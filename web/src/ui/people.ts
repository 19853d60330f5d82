/** Who work can be given to: the members, by name, without the identity REST calls act as (a
 * script or an import is not a person), unless it already holds the work in question. */
import type { Member } from "../proto";

export function assignable(members: Iterable<Member>, holds: (memberId: string) => boolean = () => false): Member[] {
  return [...members].filter((m) => !m.restCaller || holds(m.id)).sort((a, b) => a.displayName.localeCompare(b.displayName));
}
