/**
 * Where a cluster keeps its keys under its `--etcd-prefix` (default `/leasehold/`): the gateways'
 * election, and the state (persistence/etcd-storage.ts). The gateways, backup, restore and import
 * all find them here.
 */
export function electionPrefixOf(prefix: string): string {
  return `${prefix}election/`;
}

export function dataPrefixOf(prefix: string): string {
  return `${prefix}data/`;
}
