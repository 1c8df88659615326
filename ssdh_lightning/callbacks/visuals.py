"""What the loggers show of each validation besides numbers: precision@k curves, a few queries
with their top results, and how close the latent activations are to 0 and 1."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from ssdh_lightning import metric_names
from ssdh_lightning.callbacks.retrieval import RetrievalEvaluation, find_evaluation
from ssdh_lightning.loggers import log_histogram, log_image, rendered, takes_images
from ssdh_lightning.reporting.plots import precision_curve_figure
from ssdh_lightning.retrieval import PackedCodes, pack_codes, search
from ssdh_lightning.retrieval.reference import relevance

CORRECT, WRONG = (0, 200, 0), (220, 0, 0)


def _thumbnail(image: torch.Tensor, size: int, border: tuple[int, int, int] | None) -> torch.Tensor:
    """A uint8 image (C, H, W) as an RGB square of ``size``, framed in ``border`` if given."""
    image = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    image = F.interpolate(image[None].float(), size=(size, size), mode="bilinear")[0]
    if border is not None:
        frame = torch.tensor(border, dtype=image.dtype).view(3, 1, 1)
        image[:, :3, :], image[:, -3:, :] = frame, frame
        image[:, :, :3], image[:, :, -3:] = frame, frame
    return image.clamp(0, 255).to(torch.uint8)


class RetrievalVisuals(L.Callback):
    """Logs, after each scored validation, to every logger that takes images (TensorBoard,
    MLflow, W&B; the CSV takes numbers only):

    - ``val/precision_curve``: precision@k against k for each mode;
    - ``val/examples/<mode>``: ``n_queries`` fixed queries (the first of the query set), each
      followed by its ``top`` results by BCS and by HDS, framed green when relevant (PROTOCOL.md:
      a class in common), red when not;
    - ``val/latent_probs``: a histogram of the queries' latent activations (near 0 and 1 when
      the codes are confident), where the logger draws histograms (TensorBoard, W&B).
    """

    def __init__(self, n_queries: int = 6, top: int = 8, thumbnail: int = 48) -> None:
        for name, value in (("n_queries", n_queries), ("top", top), ("thumbnail", thumbnail)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"RetrievalVisuals {name} must be a positive integer, got {value!r}"
                )
        self.n_queries = n_queries
        self.top = top
        self.thumbnail = thumbnail

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        evaluation = find_evaluation(trainer)
        if evaluation.step != trainer.global_step:
            raise ValueError(
                "RetrievalVisuals ran before RetrievalEvaluation: list retrieval_evaluation "
                "first among the callbacks"
            )
        loggers = [logger for logger in trainer.loggers if takes_images(logger)]
        if not loggers:
            return
        step = trainer.global_step
        curves = {mode: s.precision_curve for mode, s in evaluation.scores.modes.items()}
        figure = precision_curve_figure(curves, title=f"step {step}")
        log_image(loggers, metric_names.PRECISION_CURVE, rendered(figure), step)
        database = pack_codes(evaluation.database.codes)  # laid out once for both modes
        for mode in ("bcs", "hds"):
            if mode in evaluation.scores.modes:
                grid = self._examples(trainer, evaluation, database, mode)
                log_image(loggers, metric_names.examples(mode), grid.permute(1, 2, 0).numpy(), step)
        log_histogram(loggers, metric_names.LATENT_PROBS, evaluation.query.probs, step)

    def _examples(
        self, trainer: L.Trainer, evaluation: RetrievalEvaluation, database: PackedCodes, mode: str
    ):
        settings = evaluation.settings
        query = evaluation.query.head(self.n_queries)
        result = search(
            query.codes,
            database,
            self.top,
            mode,
            query_features=query.features,
            database_features=evaluation.database.features,
            hds_threshold=settings.hds_threshold,
            hds_pool_size=settings.hds_pool_size,
        )
        splits = trainer.datamodule.splits
        tiles = []
        labels, positions = evaluation.database.labels, evaluation.database.positions
        for a in range(len(query)):
            image = splits.query[int(query.positions[a])][0]
            tiles.append(_thumbnail(image, self.thumbnail, None))
            ranked = result.positions[a]
            for j, right in zip(ranked, relevance(query.labels[a], labels[ranked]), strict=True):
                image = splits.database[int(positions[j])][0]
                tiles.append(_thumbnail(image, self.thumbnail, CORRECT if right else WRONG))
        return make_grid(torch.stack(tiles), nrow=1 + result.positions.shape[1], padding=2)
