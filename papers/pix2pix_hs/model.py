"""Adversarial spatial context-aware spectral reconstruction (Alvarez-Gila et al., ICCVW 2017).

A conditional GAN in the pix2pix framework maps an sRGB image to its 31-band hyperspectral
counterpart (400-700 nm):

- ``build_generator``: the U-Net generator of Sec. 2.2. Eight 3x3 stride-2 convolutions,
  each followed by a LeakyReLU (64 filters doubling up to 512, then constant), down to a
  1x1 activation for a 256x256 input; eight transposed-convolution blocks (transposed
  conv, train-time-only Dropout 0.1, LeakyReLU), each followed by the concatenation with
  the encoder activation of the same size (the input RGB image for the last one); two 1x1
  convolutions with a LeakyReLU between them and a tanh output. No batch normalization
  ("Avoiding Batch Normalization", Sec. 2.2). ``n_branches`` keeps 1..9 of the U-Net's
  branches as in the branch pruning experiment of Sec. 3.3.1 / Fig. 4: 1 = only the skip
  from the input to the final 1x1 convolutions (a per-pixel model), k = the k-1 shallowest
  levels, 9 = the full net with its 1x1 main branch.
- ``build_discriminator``: the PatchGAN D of Sec. 2.2 on the (RGB, HS) pair: four 3x3
  stride-2 convolutions with LeakyReLU, filters doubling from 64, then a fifth 3x3
  convolution with a sigmoid giving an 8x8 map of real/fake probabilities for a 256x256
  input (stride 2 on the fifth one too, the only way to reach 8x8 from 16x16).
- ``Pix2PixHS``: a ``keras.Model`` that trains both through ``fit`` with the objective of
  eqs. 6-7 (conditional GAN loss + lambda * L1, lambda = 100) and the paper's alternation
  (Sec. 2.3): D is trained for 50 iterations, then G for 25, and so on. The alternation
  lives inside the compiled step: a phase counter variable selects one of two branches
  (``keras.ops.cond`` / ``jax.lax.cond``), so only the active network's optimizer steps.
  ``train_step`` has the TensorFlow form (``tf.GradientTape``) and the JAX form (stateless:
  ``stateless_call`` and ``optimizer.stateless_apply``), chosen by the Keras backend.

Images enter G and D scaled to tanh's range [-1, 1] (``to_tanh_range``/``from_tanh_range``).
"""

import keras
from keras import layers, ops

from common.io import KitError
from common.training import jit_compile_setting

# Sec. 2.2: the generator's filters start at 64, double per level, and stop at 512.
ENCODER_LEVELS = 8
MAX_BRANCHES = ENCODER_LEVELS + 1


def to_tanh_range(x):
    """[0, 1] -> [-1, 1], the range of G's tanh output (and of its input, for symmetry)."""
    return x * 2.0 - 1.0


def from_tanh_range(x):
    """[-1, 1] -> [0, 1]."""
    return (x + 1.0) / 2.0


def level_filters(level, base_filters=64, max_filters=512):
    """Filters of encoder level ``level`` (1-based): 64, 128, 256, 512, 512, ... (Sec. 2.2)."""
    return min(base_filters * 2 ** (level - 1), max_filters)


def required_multiple(n_branches):
    """Input height and width must be multiples of this for the skip concatenations."""
    return 2 ** (n_branches - 1)


def build_generator(
    n_branches=MAX_BRANCHES,
    base_filters=64,
    max_filters=512,
    bands=31,
    dropout_rate=0.1,
    negative_slope=0.2,
    name=None,
):
    """The U-Net generator G of Sec. 2.2, with ``n_branches`` of its 9 branches (Fig. 4).

    Accepts any height and width that are multiples of ``required_multiple(n_branches)``
    (256 for the full net, as in the paper). The encoder keeps ``n_branches - 1`` levels;
    the deepest kept activation feeds the decoder directly (for the full net it is the 1x1
    main branch). Output: ``bands`` channels in [-1, 1].
    """
    if not 1 <= int(n_branches) <= MAX_BRANCHES:
        raise KitError(f"pix2pix_hs generator: n_branches must be 1..{MAX_BRANCHES}, got {n_branches}")
    depth = int(n_branches) - 1
    rgb = keras.Input((None, None, 3), name="rgb")

    # Encoder: e_0 = the input image, e_i = LeakyReLU(conv3x3/2(e_{i-1})).
    skips = [rgb]
    x = rgb
    for level in range(1, depth + 1):
        x = layers.Conv2D(
            level_filters(level, base_filters, max_filters), 3, strides=2, padding="same",
            name=f"enc{level}_conv")(x)
        x = layers.LeakyReLU(negative_slope, name=f"enc{level}_lrelu")(x)
        skips.append(x)

    # Decoder: from level i to level i-1, transposed conv -> Dropout -> LeakyReLU, then
    # concatenate the encoder activation of level i-1 (symmetric filter counts; the last
    # block, back at the input size, keeps ``base_filters``).
    x = skips[depth]
    for level in range(depth, 0, -1):
        filters = level_filters(level - 1, base_filters, max_filters) if level > 1 else base_filters
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", name=f"dec{level}_deconv")(x)
        x = layers.Dropout(dropout_rate, name=f"dec{level}_dropout")(x)
        x = layers.LeakyReLU(negative_slope, name=f"dec{level}_lrelu")(x)
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level - 1]])

    # Two 1x1 convolutions with a LeakyReLU between them, tanh output.
    x = layers.Conv2D(base_filters, 1, name="head_conv1")(x)
    x = layers.LeakyReLU(negative_slope, name="head_lrelu")(x)
    x = layers.Conv2D(bands, 1, name="head_conv2")(x)
    # float32 under --mixed-precision bf16 (a no-op in float32): G's output, the L1 term
    # and the predictions are float32.
    hs = layers.Activation("tanh", name="tanh", dtype="float32")(x)
    return keras.Model(rgb, hs, name=name or f"generator_{n_branches}branches")


def build_discriminator(bands=31, base_filters=64, n_layers=4, negative_slope=0.2, name="discriminator"):
    """PatchGAN D of Sec. 2.2 on the (RGB, HS) pair -> (B, H/32, W/32, 1) probabilities."""
    rgb = keras.Input((None, None, 3), name="rgb")
    hs = keras.Input((None, None, bands), name="hs")
    x = layers.Concatenate(name="pair")([rgb, hs])
    for i in range(n_layers):
        x = layers.Conv2D(base_filters * 2 ** i, 3, strides=2, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(negative_slope, name=f"lrelu{i + 1}")(x)
    x = layers.Conv2D(1, 3, strides=2, padding="same", name=f"conv{n_layers + 1}")(x)
    # float32 probabilities under --mixed-precision bf16: their cross-entropy needs them
    # (1 - 1e-7 rounds to 1 in bfloat16).
    patch = layers.Activation("sigmoid", name="sigmoid", dtype="float32")(x)
    return keras.Model([rgb, hs], patch, name=name)


def _bce(target, prob):
    """Mean binary cross-entropy of a PatchGAN probability map against a constant label."""
    return ops.mean(keras.losses.binary_crossentropy(ops.full_like(prob, target), prob))


def spectral_rmse_255(hs_tanh, fake_tanh):
    """Training-log metric: per-pixel RMSE over the spectrum, mean over pixels, 0-255 scale.

    Both arguments are in tanh's range [-1, 1]; the [0, 1] cube is scaled by 255 (the
    convention of Table 1). No black-pixel mask here (crops of real images rarely hold them;
    the evaluation code applies the mask).
    """
    err = (hs_tanh - fake_tanh) * (255.0 / 2.0)
    return ops.mean(ops.sqrt(ops.mean(ops.square(err), axis=-1)))


class Pix2PixHS(keras.Model):
    """G and D trained through ``fit`` with the paper's D-50 / G-25 alternation (Sec. 2.3).

    ``fit`` expects (rgb, hs) batches, both in [-1, 1]. Each step takes one minibatch and
    updates D (phase position < ``d_iterations``) or G (otherwise); ``phase_step`` is the
    position in the cycle of ``d_iterations + g_iterations`` steps, a non-trainable weight,
    so that it is saved with the weights and a resumed run continues the same cycle.
    Logs: ``d_loss`` (D's cross-entropy on the real and the fake pair, averaged), ``g_adv``
    (G's non-saturating adversarial term), ``g_l1`` (mean absolute error in [-1, 1]),
    ``loss`` (G's objective g_adv + lambda * g_l1, eq. 7) and ``rmse`` (0-255), all
    measured on the step's batch before its update, averaged over the epoch.
    Calling the model runs G.
    """

    def __init__(self, generator, discriminator, l1_weight=100.0, d_iterations=50, g_iterations=25, **kwargs):
        super().__init__(**kwargs)
        if d_iterations < 0 or g_iterations < 0 or d_iterations + g_iterations == 0:
            raise KitError(f"pix2pix_hs: bad phase lengths d={d_iterations}, g={g_iterations}")
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.d_iterations = int(d_iterations)
        self.g_iterations = int(g_iterations)
        self.phase_step = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="phase_step",
            aggregation="only_first_replica")  # updated inside each replica's step
        self._traced_phase = "d"
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("loss", "d_loss", "g_adv", "g_l1", "rmse")
        }
        self.built = True  # G and D are functional models, built at construction

    @property
    def cycle(self):
        return self.d_iterations + self.g_iterations

    def call(self, rgb, training=False):
        return self.generator(rgb, training=training)

    def compile(self, g_optimizer=None, d_optimizer=None, jit_compile=None, **kwargs):
        """Adam(2e-4, beta_1=0.5) for both networks by default (Sec. 2.3).

        ``jit_compile`` defaults to True on JAX (its step is one jitted function) and to
        False on TensorFlow (a traced ``tf.function`` without XLA: XLA's compile time
        does not pay off in short CPU runs).

        The two optimizers are wrapped in one ``keras.optimizers.MultiOptimizer`` so that
        Keras keeps both states (the JAX trainer passes ``model.optimizer.variables`` as
        state); ``train_step`` applies each one to its own network only, in its own phase.
        """
        if keras.backend.backend() not in ("tensorflow", "jax"):
            raise KitError(f"pix2pix_hs trains on the tensorflow or jax backend, not {keras.backend.backend()}")
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, name="g_adam")
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, name="d_adam")
        d_ids = {id(v) for v in self.discriminator.trainable_variables}
        g_opt, d_opt = self.g_optimizer, self.d_optimizer
        optimizer = keras.optimizers.MultiOptimizer(lambda v: d_opt if id(v) in d_ids else g_opt)
        if jit_compile is None:
            jit_compile = jit_compile_setting(False)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ----------------------------------------------------------------- shared pieces
    def _objectives(self, fake, p_real, p_fake, hs):
        # Every objective in float32, also under --mixed-precision bf16 (G's and D's last
        # layers are float32 already; the casts make it independent of the networks).
        fake, p_real, p_fake, hs = (ops.cast(t, "float32") for t in (fake, p_real, p_fake, hs))
        d_loss = 0.5 * (_bce(1.0, p_real) + _bce(0.0, p_fake))
        g_adv = _bce(1.0, p_fake)
        g_l1 = ops.mean(ops.abs(hs - fake))
        return {
            "loss": g_adv + self.l1_weight * g_l1,
            "d_loss": d_loss,
            "g_adv": g_adv,
            "g_l1": g_l1,
            "rmse": spectral_rmse_255(hs, fake),
        }

    def _forward(self, rgb, hs, training):
        fake = self.generator(rgb, training=training)
        p_real = self.discriminator([rgb, hs], training=training)
        p_fake = self.discriminator([rgb, fake], training=training)
        return self._objectives(fake, p_real, p_fake, hs)

    def _in_d_phase(self, phase_step):
        return ops.less(phase_step, self.d_iterations)

    def _next_phase_step(self, phase_step):
        return ops.mod(phase_step + 1, self.cycle)

    @staticmethod
    def _unpack(data):
        rgb, hs, _ = keras.utils.unpack_x_y_sample_weight(data)
        return rgb, hs

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._tf_train_step(*args)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        return self._tf_test_step(*args)

    # ----------------------------------------------------------------- TensorFlow
    def make_train_function(self, force=False):
        """TensorFlow: one traced step per phase, the phase chosen on the host each step.

        An optimizer update is a synchronisation point between replicas under a
        ``tf.distribute`` strategy, and TensorFlow allows none inside a ``tf.cond``; so
        instead of branching in the graph (as the JAX step does with ``lax.cond``) the D
        step and the G step are traced separately and the host, which keeps a copy of the
        phase counter (read from the model's ``phase_step`` each time ``fit`` starts, so a
        resumed run continues in its phase), calls the right one.
        """
        if keras.backend.backend() != "tensorflow":
            return super().make_train_function(force)
        if self.steps_per_execution != 1:
            raise KitError("pix2pix_hs on TensorFlow runs one step per call (steps_per_execution=1): "
                           "the host chooses each step's phase")
        if self.train_function is None or force:
            steps = {}
            for phase in ("d", "g"):
                super().make_train_function(force=True)
                steps[phase] = self.train_function
            # The host's copy of the counter lives in this closure only: a dict or list
            # stored as a model attribute would be wrapped (copied) by Keras' attribute
            # tracking, and syncing that copy would not reach the closure.
            host = {"step": 0}

            def train_function(iterator):
                phase = "d" if host["step"] < self.d_iterations else "g"
                host["step"] = (host["step"] + 1) % self.cycle
                self._traced_phase = phase  # read while tracing the step of this phase
                return steps[phase](iterator)

            def sync_host_phase():
                host["step"] = int(ops.convert_to_numpy(self.phase_step))

            self.train_function = train_function
            self._sync_host_phase = sync_host_phase
        self._sync_host_phase()
        return self.train_function

    def _tf_train_step(self, data):
        import tensorflow as tf

        rgb, hs = self._unpack(data)
        if self._traced_phase == "d":
            network, optimizer, objective = self.discriminator, self.d_optimizer, "d_loss"
        else:
            network, optimizer, objective = self.generator, self.g_optimizer, "loss"
        # Under a tf.distribute strategy each replica holds 1/N of the batch and the
        # optimizer sums the replicas' gradients: dividing each replica's mean loss by N
        # makes that sum the gradient of the mean over the whole batch (as Keras' own
        # train_step does).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            losses = self._forward(rgb, hs, training=True)
            scaled = losses[objective] / replicas
        variables = network.trainable_variables
        optimizer.apply(tape.gradient(scaled, variables), variables)
        self.phase_step.assign(self._next_phase_step(self.phase_step))
        self.optimizer.iterations.assign_add(1)
        return self._update_trackers(losses)

    def _tf_test_step(self, data):
        rgb, hs = self._unpack(data)
        return self._update_trackers(self._forward(rgb, hs, training=False))

    def _update_trackers(self, losses):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # ----------------------------------------------------------------- JAX (stateless)
    def _positions(self, variables, subset):
        index = {id(v): i for i, v in enumerate(variables)}
        return [index[id(v)] for v in subset]

    def _jax_state_layout(self):
        """Where each network's variables sit in the trainer's flat state lists."""
        if getattr(self, "_state_layout", None) is None:
            tv, ntv, ov = self.trainable_variables, self.non_trainable_variables, self.optimizer.variables
            self._state_layout = {
                "g_tv": self._positions(tv, self.generator.trainable_variables),
                "d_tv": self._positions(tv, self.discriminator.trainable_variables),
                "g_ntv": self._positions(ntv, self.generator.non_trainable_variables),
                "d_ntv": self._positions(ntv, self.discriminator.non_trainable_variables),
                "phase": self._positions(ntv, [self.phase_step])[0],
                "g_ov": self._positions(ov, self.g_optimizer.variables),
                "d_ov": self._positions(ov, self.d_optimizer.variables),
                "iterations": self._positions(ov, [self.optimizer.iterations])[0],
            }
        return self._state_layout

    def _stateless_forward(self, g_tv, g_ntv, d_tv, d_ntv, rgb, hs, training):
        fake, g_ntv = self.generator.stateless_call(g_tv, g_ntv, rgb, training=training)
        p_real, d_ntv = self.discriminator.stateless_call(d_tv, d_ntv, [rgb, hs], training=training)
        p_fake, d_ntv = self.discriminator.stateless_call(d_tv, d_ntv, [rgb, fake], training=training)
        return self._objectives(fake, p_real, p_fake, hs), (g_ntv, d_ntv)

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_vars, metrics_vars = state
        rgb, hs = self._unpack(data)
        lay = self._jax_state_layout()
        pick = lambda values, positions: [values[i] for i in positions]  # noqa: E731
        carry = (
            pick(trainable, lay["g_tv"]), pick(non_trainable, lay["g_ntv"]), pick(optimizer_vars, lay["g_ov"]),
            pick(trainable, lay["d_tv"]), pick(non_trainable, lay["d_ntv"]), pick(optimizer_vars, lay["d_ov"]),
        )

        def d_update(carry):
            g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov = carry

            def objective(d_tv):
                losses, ntv = self._stateless_forward(g_tv, g_ntv, d_tv, d_ntv, rgb, hs, True)
                return losses["d_loss"], (losses, ntv)

            grads, (losses, (g_ntv, d_ntv)) = jax.grad(objective, has_aux=True)(d_tv)
            d_tv, d_ov = self.d_optimizer.stateless_apply(d_ov, grads, d_tv)
            return (g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov), losses

        def g_update(carry):
            g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov = carry

            def objective(g_tv):
                losses, ntv = self._stateless_forward(g_tv, g_ntv, d_tv, d_ntv, rgb, hs, True)
                return losses["loss"], (losses, ntv)

            grads, (losses, (g_ntv, d_ntv)) = jax.grad(objective, has_aux=True)(g_tv)
            g_tv, g_ov = self.g_optimizer.stateless_apply(g_ov, grads, g_tv)
            return (g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov), losses

        phase = non_trainable[lay["phase"]]
        carry, losses = jax.lax.cond(self._in_d_phase(phase), d_update, g_update, carry)

        trainable, non_trainable, optimizer_vars = list(trainable), list(non_trainable), list(optimizer_vars)
        g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov = carry
        for values, key, new in ((trainable, "g_tv", g_tv), (trainable, "d_tv", d_tv),
                                 (non_trainable, "g_ntv", g_ntv), (non_trainable, "d_ntv", d_ntv),
                                 (optimizer_vars, "g_ov", g_ov), (optimizer_vars, "d_ov", d_ov)):
            for i, value in zip(lay[key], new):
                values[i] = value
        non_trainable[lay["phase"]] = self._next_phase_step(phase)
        optimizer_vars[lay["iterations"]] = optimizer_vars[lay["iterations"]] + 1

        logs, metrics_vars = self._stateless_update_trackers(metrics_vars, losses)
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)

    def _jax_test_step(self, state, data):
        trainable, non_trainable, metrics_vars = state
        rgb, hs = self._unpack(data)
        lay = self._jax_state_layout()
        pick = lambda values, positions: [values[i] for i in positions]  # noqa: E731
        losses, _ = self._stateless_forward(
            pick(trainable, lay["g_tv"]), pick(non_trainable, lay["g_ntv"]),
            pick(trainable, lay["d_tv"]), pick(non_trainable, lay["d_ntv"]), rgb, hs, False)
        logs, metrics_vars = self._stateless_update_trackers(metrics_vars, losses)
        return logs, (trainable, non_trainable, metrics_vars)

    def _stateless_update_trackers(self, metrics_vars, losses):
        logs, new_vars, start = {}, [], 0
        for name, tracker in self.trackers.items():
            n = len(tracker.variables)
            values = tracker.stateless_update_state(metrics_vars[start:start + n], losses[name])
            logs[name] = tracker.stateless_result(values)
            new_vars += values
            start += n
        return logs, new_vars


def build_pix2pix_hs(config):
    """G, D and the GAN wrapper from a config (see ``config.py``), compiled with Adam."""
    generator = build_generator(
        n_branches=config["n_branches"], base_filters=config["g_filters"], max_filters=config["g_max_filters"],
        bands=config["bands"], dropout_rate=config["dropout"])
    discriminator = build_discriminator(bands=config["bands"], base_filters=config["d_filters"])
    gan = Pix2PixHS(generator, discriminator, l1_weight=config["l1_weight"],
                    d_iterations=config["d_iterations"], g_iterations=config["g_iterations"],
                    name="pix2pix_hs")
    gan.compile(
        g_optimizer=keras.optimizers.Adam(config["learning_rate"], beta_1=config["beta_1"], name="g_adam"),
        d_optimizer=keras.optimizers.Adam(config["learning_rate"], beta_1=config["beta_1"], name="d_adam"))
    return gan
