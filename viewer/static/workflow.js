// Study page and worklist: critical findings, claiming, phrases, two-level review (not yet built).
