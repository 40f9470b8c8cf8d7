-- A study's sites (StudySites, asked by every Put of an object new to the index, for the
-- rule that a site's object may not join another site's study) are read from this index a
-- distinct value at a time: a seek per series and site, where the query used to read
-- every instance of the study, so the n-th object of a CT series cost n row reads. The
-- index is partial in name only (every site is a string, so >= '') so that the planner
-- does not take it, rather than instances_order, for a series' instances in order: only a
-- query that says site >= '' (StudySites, which also names it) may use it.
CREATE INDEX instances_series_site ON instances (series_pk, site) WHERE site >= '';
