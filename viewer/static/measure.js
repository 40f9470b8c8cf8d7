// Study page: measurements and annotations on the viewer's panes (not yet built).
