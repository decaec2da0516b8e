"""Neural architecture search over the paper's bottleneck model space.

* :mod:`geneqn.nas.space`: the model space as data, architectures as plain values.
* :mod:`geneqn.nas.network`: the bottleneck MLP, with its latent activations.
* :mod:`geneqn.nas.estimator`: :class:`BottleneckRegressor`, the network as a scikit-learn estimator.
* :mod:`geneqn.nas.train`: training with Adam + early stopping, one net or a batched group.
* :mod:`geneqn.nas.reinforce`: the paper's REINFORCE controller as an Optuna sampler.
* :mod:`geneqn.nas.search`: the Optuna ask/tell search in a storage URL.
"""
