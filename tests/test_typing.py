import pyg_gas.typing as typing_module


def test_optional_features_are_detected_by_a_probe_call():
    # An extension may have the op and still refuse to run it (torch-sparse
    # built without METIS): only a call that succeeds counts.
    def not_compiled():
        raise RuntimeError('Not compiled with METIS support')

    assert typing_module._works(lambda: None)
    assert not typing_module._works(not_compiled)
    ring_rowptr, ring_col = typing_module._RING
    assert ring_rowptr.tolist() == [0, 2, 4, 6, 8]
    assert ring_col.numel() == 8 and int(ring_col.max()) == 3
