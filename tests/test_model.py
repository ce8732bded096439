"""Architecture, sampling layers, numpy interface, persistence and MAC counting."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from fakes import TINY_SPEC, sparse_unit_sum_images

from src.backend import keras, seed_everything, tf
from src.compress.quantize import REDUCED
from src.models.layers import GroupedConv2D, GumbelSoftmax, LayerFactory
from src.models.networks import build_model, count_macs
from src.models.spec import ModelSpec
from src.models.store import load, save


def test_paper_parameter_counts():
    model = build_model(ModelSpec())
    assert model.encoder.count_params() == 262_740
    assert model.decoder.count_params() == 545_953
    assert sum(count_macs(model.encoder).values()) == 5_778_432  # "about 5.8 M MACs"


def test_reduced_encoder_layers_and_size():
    model = build_model(ModelSpec(**REDUCED))
    assert model.encoder.count_params() == 10_674
    shapes = {layer.name: layer.output_shape[1:] for layer in model.encoder.layers}
    expected = {"dconv_b0": (20, 20, 16), "conv1_b0_0": (20, 20, 16), "conv2_b0_0": (20, 20, 16),
                "dconv_b1": (10, 10, 20), "conv1_b1_1": (10, 10, 20), "conv2_b1_1": (10, 10, 20),
                "dconv_b2": (5, 5, 4), "conv1_b2_0": (5, 5, 4), "conv2_b2_0": (5, 5, 4),
                "conv_fin": (5, 5, 2), "z_categorical": (20,), "z_mean": (32,), "z_var": (32,)}
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert "conv_fin_act" not in shapes  # conv_fin has no activation
    macs = count_macs(model.encoder)
    assert sum(macs.values()) == 961_800  # "~0.96 M MACs"
    first_stage = sum(v for k, v in macs.items() if k.endswith("_b0") or "_b0_" in k)
    assert 0.53 < first_stage / sum(macs.values()) < 0.55  # "54% in the first stage"


@pytest.mark.parametrize("kind, keys", [("jointvae", {"logits": 3, "mu": 4, "logvar": 4}),
                                        ("vae", {"mu": 4, "logvar": 4}), ("ae", {"z": 4})])
def test_shapes_of_generative_kinds(kind, keys):
    model = build_model(ModelSpec(kind=kind, **TINY_SPEC))
    x = sparse_unit_sum_images(5)
    encoded = model.encode(x, batch_size=2)
    assert {k: v.shape for k, v in encoded.items()} == {k: (5, d) for k, d in keys.items()}
    assert [tuple(o.shape) for o in model.encoder.outputs] == [(None, d) for d in keys.values()]
    recon = model.reconstruct(x, batch_size=2)
    assert recon.shape == (5, 40, 40) and np.all((recon > 0) & (recon < 1))
    np.testing.assert_array_equal(recon, model.reconstruct(x, batch_size=2))  # deterministic
    # Another batch size may take other CPU kernels (oneDNN picks them by shape): the sums of
    # a few thousand float32 products per output then round differently, by up to ~2e-5 on
    # outputs of order 1 (measured); 1e-4 stays well inside float32 accumulation error.
    np.testing.assert_allclose(recon, model.reconstruct(x), atol=1e-4)
    assert model.reconstruct(x[:0]).shape == (0, 40, 40)
    assert all(v.shape == (0, keys[k]) for k, v in model.encode(x[:0]).items())
    out = model(x[..., None], training=True)
    assert out["reconstruction"].shape == (5, 40, 40, 1)
    assert out["latent"].shape[1] == model.decoder.input_shape[1]


def test_classifier_shapes():
    model = build_model(ModelSpec(kind="classifier", **TINY_SPEC))
    p = model.predict_proba(sparse_unit_sum_images(7), batch_size=3)
    assert p.shape == (7,) and np.all((p >= 0) & (p <= 1))


def test_bad_input_shape_and_spec_errors():
    model = build_model(ModelSpec(kind="ae", **TINY_SPEC))
    with pytest.raises(ValueError, match="expected images of shape"):
        model.encode(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match="not divisible by groups"):
        ModelSpec(filters=(30, 64, 128, 128))
    with pytest.raises(ValueError, match="kind"):
        ModelSpec(kind="gan")
    with pytest.raises(ValueError, match="unknown ModelSpec fields: colour"):
        ModelSpec.from_dict({"colour": 1})


def test_spec_json_round_trip():
    spec = ModelSpec(**REDUCED)
    assert ModelSpec.from_dict(json.loads(json.dumps(asdict(spec)))) == spec


def test_gumbel_softmax_on_simplex_and_follows_categorical():
    seed_everything(1)
    logits = tf.constant([[2.0, 0.0, -1.0, 0.5]] * 20000)
    samples = GumbelSoftmax(temperature=50.0)(logits).numpy()
    assert np.all(samples >= 0)
    np.testing.assert_allclose(samples.sum(axis=1), 1.0, atol=1e-5)
    # At low temperature a sample is nearly one-hot at a category drawn with softmax(logits).
    cold = GumbelSoftmax(temperature=1e-3)(logits).numpy()
    freq = np.bincount(cold.argmax(axis=1), minlength=4) / len(cold)
    np.testing.assert_allclose(freq, tf.nn.softmax(logits[0]).numpy(), atol=0.015)


def test_gaussian_sampling_moments():
    seed_everything(2)
    model = build_model(ModelSpec(kind="vae", **TINY_SPEC))
    mu = tf.fill((50000, 1), 1.5)
    logvar = tf.fill((50000, 1), np.log(0.25).astype(np.float32))
    z = model.gaussian([mu, logvar]).numpy()
    assert abs(z.mean() - 1.5) < 0.01 and abs(z.std() - 0.5) < 0.01


def test_grouped_conv_matches_keras():
    x = tf.random.stateless_normal((2, 10, 10, 8), seed=(1, 2))
    ref = keras.layers.Conv2D(12, 3, strides=2, padding="same", groups=4)
    fast = GroupedConv2D(12, 3, strides=2, padding="same", groups=4)
    ref.build(x.shape)
    fast.build(x.shape)
    fast.set_weights(ref.get_weights())
    np.testing.assert_allclose(fast(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    seed_everything(3)
    model = build_model(ModelSpec(**TINY_SPEC))
    x = sparse_unit_sum_images(4)
    history = {"loss": [2.0, 1.0]}
    path = save(model, tmp_path / "jv", history=history, metadata={"note": "x"})
    save(model, path)  # overwriting an existing model works as well
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jv"]
    back = load(path)
    assert back.spec == model.spec
    np.testing.assert_array_equal(back.reconstruct(x), model.reconstruct(x))
    for key, value in model.encode(x).items():
        np.testing.assert_array_equal(back.encode(x)[key], value)
    assert json.loads((path / "spec.json").read_text())["model"]["filters"] == [4, 8]
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load(tmp_path / "missing")


def test_count_macs_hand_computed():
    inputs = keras.Input((6, 6, 4))
    x = LayerFactory().conv(8, 3, 2, 2, "conv")(inputs)  # -> (3, 3, 8)
    x = keras.layers.Flatten()(x)
    outputs = LayerFactory().dense(5, "dense")(x)
    macs = count_macs(keras.Model(inputs, outputs))
    assert macs == {"conv": 3 * 3 * 3 * 3 * (4 // 2) * 8, "dense": 72 * 5}


def test_count_macs_whole_model_covers_both_parts():
    model = build_model(ModelSpec(**TINY_SPEC))
    macs = count_macs(model)
    assert macs == {**count_macs(model.encoder), **count_macs(model.decoder)}
    assert macs["reco"] == 40 * 40 * 9 * 4 * 1
