"""Renderers of sessions: an offline HTML page (:mod:`.export`) and a matplotlib
figure (:mod:`.figure`).  Each takes a :class:`~attn_widget.session.Session`, or a
list of them, never a widget; ``figure`` needs matplotlib and is imported on use."""
