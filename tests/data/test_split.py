from tunesql.data.example import Example
from tunesql.data.split import split_examples


def _ex(i: int) -> Example:
    return Example(id=f"q{i}", question=f"question {i}", sql="SELECT 1", db_id="d")


def test_split_is_stable_disjoint_and_near_the_fraction() -> None:
    examples = [_ex(i) for i in range(400)]
    train, test = split_examples(examples, 0.25)
    assert {e.id for e in train}.isdisjoint({e.id for e in test})
    assert len(train) + len(test) == 400
    assert 70 <= len(test) <= 130
    # Adding examples never moves an existing one to the other side.
    train2, test2 = split_examples([*examples, *(_ex(i) for i in range(400, 500))], 0.25)
    assert {e.id for e in test} <= {e.id for e in test2}
    assert {e.id for e in train} <= {e.id for e in train2}
