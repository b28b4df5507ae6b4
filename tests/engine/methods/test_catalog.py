"""engine.methods.catalog: one interface over the runnable methods (options, commands, output)."""
from pathlib import Path

import pytest

from engine.methods.catalog import METHODS, with_resources
from engine.methods.process import StepResources
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from engine.landscape.presets import load_preset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog") / "ds"
    run_simulation(SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=64, box_size=32,
                                  chunk_size=64), folder, workers=1)
    return folder


def test_the_three_methods_and_the_loader_of_their_output():
    assert {name: m.output_kind for name, m in METHODS.items()} == {
        "relion_multibody": "relion_multibody", "cryodrgn": "cryodrgn", "recovar": "recovar"}


def test_option_fields_are_the_options_dataclass_fields_a_user_sets():
    fields = {f.name: f for f in METHODS["cryodrgn"].option_fields()}
    assert (fields["zdim"].kind, fields["zdim"].default, fields["zdim"].optional) == (int, 8, False)
    assert (fields["lazy"].kind, fields["lazy"].optional) == (bool, True)
    assert "resources" not in fields
    relion = {f.name: f for f in METHODS["relion_multibody"].option_fields()}
    assert relion["lowpass_A"].kind is float and relion["cpus"].optional
    with pytest.raises(ValueError, match="zdim must be a positive integer"):
        METHODS["cryodrgn"].options(zdim=0)


@pytest.mark.parametrize("name, first_tool", [("relion_multibody", "relion_mask_create"),
                                              ("cryodrgn", "cryodrgn train_vae"), ("recovar", "recovar pipeline")])
def test_command_lines_run_in_a_job_folder_next_to_the_dataset(dataset, name, first_tool):
    method = METHODS[name]
    assert method.default_job_dir(dataset) == Path(dataset).resolve().with_name(f"ds_{name}")
    text = method.command_lines(dataset)
    commands = [line for line in text.splitlines() if line.startswith("cd ")]
    assert commands and all(line.startswith(f"cd {method.default_job_dir(dataset)} && ") for line in commands)
    assert first_tool in commands[0] and str(Path(dataset).resolve()) in text


def test_resources_reach_each_method_its_own_way():
    resources = StepResources(tasks=1, cpus_per_task=8, gpus=1, memory_GB=32, time_limit_min=120)
    assert with_resources(METHODS["cryodrgn"].options(), resources).resources == resources
    assert with_resources(METHODS["relion_multibody"].options(), resources).cpus == 8
