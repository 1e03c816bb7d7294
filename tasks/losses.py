"""The losses a dataset can be trained with: one declaration each, everything else derived from LOSSES.

A loss is its name, the sentence-transformers loss it builds, the dataset types whose rows it reads, and whether the
other rows of a batch are its negatives (then a batch needs that many rows, and the memory plan may train it as
CachedMNRL). The config's choices (`train.loss`, `data.extra[].loss`), the rule that picks a loss for a dataset type,
and the builder all read this table. Every loss may be wrapped in MatryoshkaLoss (`train.matryoshka_dims`).
References: Henderson et al. (2017), https://arxiv.org/abs/1705.00652 (MNRL); Gao et al. (2021),
https://arxiv.org/abs/2101.06983 (CachedMNRL, GradCache); Su (2022), https://kexue.fm/archives/8847 (CoSENT);
Schroff et al. (2015), https://arxiv.org/abs/1503.03832 (triplet); Kusupati et al. (2022),
https://arxiv.org/abs/2205.13147 (Matryoshka).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.config import TrainConfig

WITH_NEGATIVES = ("triplets", "nli", "hard_negatives", "ir")  # dataset types whose rows carry a negative ("ir": mined)
IN_BATCH_TYPES = ("pairs", *WITH_NEGATIVES)  # (anchor, positive, negatives…) rows: what the in-batch losses read


@dataclass(frozen=True)
class Loss:
    name: str
    fits: tuple[str, ...]  # dataset types whose rows it reads ("ir" = the main retrieval data, pairs + mined negatives)
    reads: str  # what its rows are, for the error when a dataset does not fit it
    in_batch: bool  # the other rows of the batch are its negatives: a batch needs that many rows; sized by memory plan
    build: Callable[[Any, TrainConfig, bool], Any]  # (model, cfg, gather across processes) -> the loss module


def _mnrl(model, cfg: TrainConfig, gather: bool):
    from sentence_transformers.sentence_transformer import losses

    return losses.MultipleNegativesRankingLoss(model, scale=cfg.scale, gather_across_devices=gather)


def _cached_mnrl(model, cfg: TrainConfig, gather: bool):
    return _length_sorted_cached_mnrl()(
        model, scale=cfg.scale, mini_batch_size=cfg.mini_batch_size, gather_across_devices=gather
    )


def _length_sorted_cached_mnrl():
    """CachedMNRL whose mini-batches hold texts of similar length: less padding computed, the same loss.

    Each column of a batch (anchors, positives, each negative) is embedded longest text first, so every mini-batch is
    cut to its own longest text (sentence-transformers drops the padding a mini-batch shares); the embeddings are put
    back in row order before the loss, so every row keeps its pairs and the whole batch as in-batch negatives. What
    changes against unsorted mini-batches is the padding computed and the order dropout masks are drawn in.
    """
    import torch
    from sentence_transformers.sentence_transformer import losses

    class LengthSortedCachedMNRL(losses.CachedMultipleNegativesRankingLoss):
        def forward(self, sentence_features, labels):
            sorted_features, self._orders = [], []
            for feature in sentence_features:
                mask = feature.get("attention_mask")
                if mask is None:  # inputs without a padding mask (static embeddings): nothing to sort by
                    self._orders.append(None)
                    sorted_features.append(feature)
                    continue
                size = mask.shape[0]
                order = torch.argsort(mask.sum(dim=1), descending=True, stable=True)
                sorted_features.append(
                    {
                        key: value[order]
                        if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == size
                        else value
                        for key, value in feature.items()
                    }
                )
                self._orders.append(order)
            return super().forward(sorted_features, labels)

        def calculate_loss(self, reps, labels=None, *, with_backward=False):
            # each column's embeddings back in row order (position j holds row order[j]'s text), as leaves of their
            # own: the loss back-propagates in chunks, and a shared permutation graph would be freed by the first
            restored = []
            for column, order in zip(reps, self._orders):
                embeddings = torch.cat([r.detach() for r in column])
                restored.append(
                    (embeddings if order is None else embeddings[torch.argsort(order)]).requires_grad_(with_backward)
                )
            loss = super().calculate_loss([[r] for r in restored], labels, with_backward=with_backward)
            if with_backward:  # the gradient cache reads each mini-batch's .grad: hand it back in sorted order
                for column, order, whole in zip(reps, self._orders, restored):
                    grads = whole.grad if order is None else whole.grad[order]
                    for rep, grad in zip(column, grads.split([len(r) for r in column])):
                        rep.grad = grad if rep.grad is None else rep.grad + grad
            return loss

    return LengthSortedCachedMNRL


def _cosent(model, cfg: TrainConfig, gather: bool):
    from sentence_transformers.sentence_transformer import losses

    return losses.CoSENTLoss(model, scale=cfg.scale)


def _triplet(model, cfg: TrainConfig, gather: bool):
    from sentence_transformers.sentence_transformer import losses

    metric = getattr(losses.TripletDistanceMetric, cfg.triplet_distance.upper())
    return losses.TripletLoss(model, distance_metric=metric, triplet_margin=cfg.triplet_margin)


IN_BATCH_ROWS = "(anchor, positive, negatives…) rows, the rest of the batch as further negatives"
LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mnrl", IN_BATCH_TYPES, IN_BATCH_ROWS, True, _mnrl),
        Loss("cached_mnrl", IN_BATCH_TYPES, IN_BATCH_ROWS + ", in mini-batches", True, _cached_mnrl),
        Loss(
            "cosent", ("sts",), "CoSENT trains on scored (sentence1, sentence2, score) rows: STS data", False, _cosent
        ),
        Loss("triplet", WITH_NEGATIVES, "TripletLoss needs a negative per row", False, _triplet),
    )
}
IN_BATCH = tuple(name for name, loss in LOSSES.items() if loss.in_batch)
MAIN_LOSSES = tuple(name for name, loss in LOSSES.items() if "ir" in loss.fits)  # what train.loss may be


def loss_for(kind: str, requested: str, main_loss: str) -> str:
    """The loss for a dataset type: the one asked for, else the main loss when it is in-batch and fits, else the first
    loss that fits the type (MNRL for every type with an anchor and a positive, CoSENT for STS)."""
    if requested != "auto":
        name = requested
    elif main_loss in IN_BATCH and kind in LOSSES[main_loss].fits:
        name = main_loss  # an in-batch dataset follows the main loss, but never becomes triplets unasked
    else:
        name = next(n for n, loss in LOSSES.items() if kind in loss.fits)
    if kind not in LOSSES[name].fits:
        fitting = ", ".join(n for n, loss in LOSSES.items() if kind in loss.fits)
        raise ValueError(
            f"loss {name!r} does not fit {kind} data: {LOSSES[name].reads}; {kind} data trains with {fitting}"
        )
    return name


def build_loss(model, name: str, cfg: TrainConfig, gather: bool = False):
    """The loss module for `name`, inside MatryoshkaLoss when cfg.matryoshka_dims is set."""
    from sentence_transformers.sentence_transformer import losses

    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    loss = LOSSES[name].build(model, cfg, gather)
    if cfg.matryoshka_dims:
        dim = model.get_sentence_embedding_dimension()
        if cfg.matryoshka_dims[0] > dim:
            raise ValueError(
                f"train.matryoshka_dims starts at {cfg.matryoshka_dims[0]} but the model has {dim} dimensions"
            )
        loss = losses.MatryoshkaLoss(
            model, loss, matryoshka_dims=cfg.matryoshka_dims, matryoshka_weights=cfg.matryoshka_weights
        )
    return loss
