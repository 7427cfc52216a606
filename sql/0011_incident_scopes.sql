-- An incident groups the scopes that fired for one burst (pipeline/slipups/spikes.py):
-- each as "kind:value", the one that opened it first; the resolved alert lists every
-- scope that joined. Empty for alerts written before incidents grouped scopes.
ALTER TABLE alerts ADD COLUMN scopes Array(String) AFTER scope;
