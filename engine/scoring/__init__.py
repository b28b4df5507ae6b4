"""How well a method recovered the landscape: the paper's metric (per-well recall, balanced
accuracy), several outputs scored together, recovered energy landscapes, CryoBench's latent
metrics, the ideal-observer ceiling with its controls, and the report."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "metric": ["Scores", "ScoringError", "score", "score_labels"],
    "comparison": ["ScoringSettings", "score_methods", "scored_particles"],
    "recovered_landscape": ["RecoveredLandscape", "recovered_landscape", "compare_wells"],
    "report": ["evaluate_output", "table1", "latent_table", "methods_json", "write_report"],
    "ceiling": ["IdealObserver", "CeilingResult", "posterior_mean_scores", "bayes_label_scores",
                "ground_truth_scores", "random_scores", "accuracy_ci", "snr_sweep"],
    "ceiling_dataset": ["DatasetCeiling", "dataset_ceiling", "dataset_snr_sweep"],
    "path_agreement": ["PathAgreement", "path_agreement_of", "neighbouring_pairs"],
    "latent_metrics": ["LatentMetrics", "latent_metrics", "neighbourhood_similarity", "information_imbalance"],
})
