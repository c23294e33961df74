/**
 * The metrics the host reports. `RuntimeMetrics` from ops implements it; the
 * host depends only on this narrow interface so it can run without prom-client.
 */
export interface HostMetrics {
  commandCompleted(service: string, method: string, code: string, seconds: number): void;
  entityActivated(service: string): void;
  entityPassivated(service: string): void;
  entityRestarted(service: string, reason: string): void;
  activeEntities(service: string, delta: number): void;
  mailboxRejected(service: string): void;
  /** A request refused by a node limit, named by its option ("max-activations", "max-fan-out"). */
  limitRejected(limit: string): void;
  functionConnected(up: boolean): void;
}
