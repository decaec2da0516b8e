"""Variant effects through genomic equations: which allele changes expression, in which cell
type, through which term.

* :func:`read_variants`: VCF / VCF.gz / BCF (cyvcf2) or a chrom/pos/ref/alt table, one row per
  alternative allele.
* :func:`variant_effects`: per (variant, gene, cell type), the change of each feature and of g
  through the run's equation (split term by term), its stable core, NAS|NN and ridge.
* :func:`sign_auroc`: how well each model's delta orders the effect signs of known eQTLs.

See :mod:`geneqn.variants.alleles` for how the alternative window is cut (indels included) and
:mod:`geneqn.variants.attribution` for how a change is split among terms.
"""

from geneqn.variants.alleles import allele_windows, distance_to_tss, variant_gene_pairs
from geneqn.variants.effects import MODELS, VariantEffects, variant_effects
from geneqn.variants.evaluate import sign_auroc
from geneqn.variants.reader import read_variants

__all__ = ["MODELS", "VariantEffects", "allele_windows", "distance_to_tss", "read_variants", "sign_auroc",
           "variant_effects", "variant_gene_pairs"]
