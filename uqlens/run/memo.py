"""Frames computed once per run object and shared by the analyses that start from them.

The app keeps one :class:`uqlens.run.folder.Run` per run version (its caches call the
analyses with it), so a frame kept on the object lives as long as that version; the key
includes the labels file's state and the human judges, which change without a new version.
"""

from __future__ import annotations

MEMO_ENTRIES = 6
"""Frames kept per run object and name by :func:`memo` (a 110,000-answer map's points
are about 50 MB)."""


def memo(run, name: str, key: tuple, compute, keep: int = MEMO_ENTRIES):
    """``compute()`` once per run object, ``name``, ``key`` and state of the human labels: a
    page's calls share the frames many analyses start from (judged answers, the answer table,
    map points: each a second at 110,000 answers) instead of recomputing them inside every
    other call. At most ``keep`` keys of ``name`` are kept (the oldest goes first). A shallow
    copy is returned (pandas copies on write); objects without attributes are not
    memoised."""
    from uqlens.run.labels import labels_stamp

    try:
        store = vars(run).setdefault("_analysis_memo", {})
    except TypeError:
        return compute()
    path = getattr(run, "path", None)
    full = (key, labels_stamp(path) if path is not None else None,
            tuple(getattr(run, "human_judges", ())))
    kept = store.setdefault(name, {})
    if full not in kept:
        while len(kept) >= max(1, keep):
            kept.pop(next(iter(kept)))
        kept[full] = compute()
    return kept[full].copy(deep=False)
