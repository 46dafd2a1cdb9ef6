"""components.url.question_links writes, for every question, exactly the link that
link("question", view, q=q) writes."""

from __future__ import annotations

from types import SimpleNamespace

from components.url import link, question_links


def test_question_links_equal_one_link_per_question():
    view = SimpleNamespace(path="runs/a b", rule="threshold:0.9@cosine", method="semantic_entropy",
                           judge="human+squad_f1", question_ids=("q1",))
    ids = ["q1", "q 2", "q&3", "ü/4"]
    assert question_links(view, ids) == [link("question", view, q=q) for q in ids]
    assert question_links(view, ["q&3"])[0].endswith("&q=q%263")
