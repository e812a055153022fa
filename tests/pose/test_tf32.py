"""pose.utils.tf32.Tf32: TF32 products on inside the context, the previous setting back after it."""

import pytest
import torch

from pose.utils.tf32 import Tf32


@pytest.fixture
def restore_flags():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("before", [False, True])
def test_enabled_turns_tf32_on_inside_and_restores_the_previous_setting(restore_flags, before):
    torch.backends.cuda.matmul.allow_tf32 = before
    torch.backends.cudnn.allow_tf32 = before
    with Tf32(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32 is before and torch.backends.cudnn.allow_tf32 is before


def test_the_setting_is_restored_when_the_body_raises(restore_flags):
    torch.backends.cuda.matmul.allow_tf32 = False
    with pytest.raises(RuntimeError):
        with Tf32(True):
            raise RuntimeError("inside")
    assert torch.backends.cuda.matmul.allow_tf32 is False


def test_disabled_changes_nothing(restore_flags):
    torch.backends.cuda.matmul.allow_tf32 = False
    with Tf32(False):
        assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 is False
