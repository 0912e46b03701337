"""A small Hugging Face `evaluate` metric module, loaded by path in the tests (no hub): the share of the
reference's words that the prediction contains, per item."""

import datasets
import evaluate


class WordOverlap(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of the reference's words found in the prediction",
            citation="",
            inputs_description="predictions and references: lists of strings",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, lowercase=True):
        def words(text):
            return set((text.lower() if lowercase else text).split())

        scores = [len(words(p) & words(r)) / max(1, len(words(r))) for p, r in zip(predictions, references)]
        return {"overlap": scores, "mean_overlap": sum(scores) / max(1, len(scores))}
