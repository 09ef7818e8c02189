"""A Basilisk rigid spacecraft with three reaction wheels as the world of a flight control loop.

Responsibility: the second world beside LunarLander, and the one a spacecraft guidance engineer
would recognise. A rigid body (I = diag(900, 800, 600) kg m^2) carries three Honeywell HR16-class
wheels (0.2 N m, 6000 rpm) on its body axes; Basilisk integrates the dynamics every 0.1 s and the
executive commands the wheels once per 0.5 s minor frame, for a fixed 900 s episode. The task is to
bring a tumbling spacecraft from a random attitude to the inertial target attitude (sigma_RN = 0)
and hold it there. The fallback is Basilisk's own flight software: `mrpFeedback` (with the
gyroscopic term, controlLawType=1) feeding `rwMotorTorque`, exactly what a classical flight runs.

Interface (the world protocol of `flight._world`):
    observation  (1, 9) float32: attitude error sigma_BR (MRP, shadow set, |sigma| <= 1), body
                 rates omega_BR_B (rad/s), wheel speeds Omega / Omega_max
    model output (1, 3) float32: wheel torques as a fraction of u_max, in [-1, 1]
    action       (3,) float64: wheel torques in N m, clipped to +-u_max
    reward       -(pointing error in degrees) each frame
    outcomes     pointed: error under 1 degree over the last 60 s;
                 saturated: otherwise, if a wheel reached its speed limit during the episode;
                 missed: anything else

For fault-injection campaigns (issue 10's "Under radiation", not built here), what the world gives
and what a mission-trial campaign must respect:
- Outcomes are declared on the class (`outcomes`, `success_outcome`); `outcome()` also carries
  `final_error_deg` and `max_wheel_speed_fraction` (they reach `flight fly`'s per-episode records).
- An episode is fixed by its seed and the commands: a trial compares with its golden run seed by seed.
- Cost: about 0.8 s per 900 s episode under TMR in the executive (1.2 episodes/s, one core), so a
  campaign of 384 trials per redundancy mode is about 5 minutes per core per mode.
- Build the world in each worker from its factory name (`spacecraft-attitude`, a `seuguard.worlds` entry point; the first
  import of Basilisk costs about 1 s); Basilisk's SWIG objects do not pickle, so ship seeds, never worlds.
- One persistent upset is scrubbed within a few frames, and a 900 s episode forgives a few frames
  of wrong torque: single flips under simplex perturb the trajectory (seen: `fault-inject flip`
  of bit 30 in skip.weight or fc1.weight, still 3/3 pointed). `saturated` and `missed` need what
  the campaign's environments provide: upsets accumulating between scrubs (an accelerated solar
  storm), several at once, or stuck-at bits (a wheel at full torque saturates in about 250 s).
- The executive's replica watchdog (50 ms of wall time) can change votes and telemetry on a loaded
  machine; compare trials with golden runs by mission outcome and voted outputs, or run with the
  watchdog off, not by `telemetry_sha256` alone.

Assumptions: one episode at a time per world. ``reset(seed)`` builds a fresh Basilisk simulation
(about 6 ms), so an episode is fixed by its seed and the actions: states are bit-identical run to
run and process to process. Fully offline: no gravity body, SPICE kernel or atmosphere (attitude
needs none). Never import ``simIncludeGravBody`` (it makes a network request on import),
``unitTestSupport`` (it imports pytest) or bsk-rl (it needs data that cannot be downloaded here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from Basilisk.architecture import bskLogging, messaging
from Basilisk.fswAlgorithms import mrpFeedback, rwMotorTorque
from Basilisk.simulation import reactionWheelStateEffector, spacecraft
from Basilisk.utilities import SimulationBaseClass, macros, simIncludeRW

OBS_DIM = 9
ACT_DIM = 3

INERTIA = (900.0, 800.0, 600.0)  # kg m^2, principal axes = body axes
MASS = 750.0  # kg; irrelevant without gravity, but the hub needs one
WHEEL_AXES = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
WHEEL_MAX_MOMENTUM = 50.0  # N m s: the HR16 size whose mass and imbalances Basilisk tabulates
U_MAX = 0.2  # N m, HR16 maximum motor torque
OMEGA_MAX = 6000.0 * macros.RPM  # rad/s, HR16 speed limit
# Basilisk stops a wheel accelerating once |Omega| >= Omega_max; within one 0.1 s step it can end a
# hair short of the limit, so "at the limit" allows that hair.
SATURATION_FRACTION = 0.999

DYNAMICS_STEP_S = 0.1
CONTROL_PERIOD_S = 0.5
EPISODE_S = 900.0
STEPS = int(round(EPISODE_S / CONTROL_PERIOD_S))  # 1800 control frames
POINTED_DEG = 1.0
HOLD_S = 60.0
HOLD_STEPS = int(round(HOLD_S / CONTROL_PERIOD_S))  # 120 frames
INITIAL_RATE_MAX = 0.02  # rad/s, per axis, uniform

# Fallback gains. The torque limit (0.2 N m on 900 kg m^2) caps the deceleration at 2.2e-4 rad/s^2,
# so the rate the law commands at large errors (about K sigma / P) must be small enough to brake
# in the angle left: K/P well under 0.047 avoids overshooting a 180 degree slew.
K_GAIN = 1.0
P_GAIN = 30.0


@dataclass(frozen=True)
class AttitudeOutcome:
    """One episode's mission-level result."""

    seed: int
    steps: int
    episode_return: float
    outcome: str  # "pointed" | "saturated" | "missed"
    final_error_deg: float
    max_wheel_speed_fraction: float


def random_attitude(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random attitude as MRPs, shadow set chosen so |sigma| <= 1.

    A normalised 4-D Gaussian is a uniform unit quaternion; q and -q are the same attitude, and the
    one with q0 >= 0 maps to the MRP inside the unit sphere (the shadow-set switch).
    """
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    if q[0] < 0.0:
        q = -q
    return q[1:] / (1.0 + q[0])


def pointing_error_deg(sigma: np.ndarray) -> float:
    """Principal rotation angle of an MRP, in degrees (phi = 4 arctan |sigma|)."""
    return float(np.degrees(4.0 * np.arctan(np.linalg.norm(sigma))))


def classify(errors_deg: np.ndarray, max_wheel_speed_fraction: float) -> str:
    """pointed if every error over the last HOLD_STEPS frames is under POINTED_DEG; else saturated if a
    wheel reached its speed limit; else missed."""
    tail = np.asarray(errors_deg, dtype=np.float64)[-HOLD_STEPS:]
    if len(tail) == HOLD_STEPS and bool(np.all(tail < POINTED_DEG)):
        return "pointed"
    if max_wheel_speed_fraction >= SATURATION_FRACTION:
        return "saturated"
    return "missed"


def _wheel_factory() -> simIncludeRW.rwFactory:
    factory = simIncludeRW.rwFactory()
    for axis in WHEEL_AXES:
        wheel = factory.create("Honeywell_HR16", list(axis), maxMomentum=WHEEL_MAX_MOMENTUM, Omega=0.0,
                               RWModel=messaging.BalancedWheels)
        wheel.u_max = U_MAX
        wheel.Omega_max = OMEGA_MAX
    return factory


class _Fallback:
    """Basilisk's mrpFeedback + rwMotorTorque, run outside any task on messages the world writes.

    Modules outside a task need SelfInit() before Reset(), or they crash the process.
    """

    def __init__(self, wheel_config: messaging.RWArrayConfigMsg) -> None:
        self.vehicle = messaging.VehicleConfigMsg().write(messaging.VehicleConfigMsgPayload(
            ISCPntB_B=[INERTIA[0], 0.0, 0.0, 0.0, INERTIA[1], 0.0, 0.0, 0.0, INERTIA[2]]))
        self.guidance = messaging.AttGuidMsg()
        self.speeds = messaging.RWSpeedMsg()
        self.guidance.write(messaging.AttGuidMsgPayload())
        self.speeds.write(messaging.RWSpeedMsgPayload())
        self.control = mrpFeedback.mrpFeedback()
        self.control.ModelTag = "mrpFeedback"
        self.control.K = K_GAIN
        self.control.P = P_GAIN
        self.control.Ki = -1.0  # negative: integral feedback off
        self.control.controlLawType = 1  # with the gyroscopic term
        self.control.guidInMsg.subscribeTo(self.guidance)
        self.control.vehConfigInMsg.subscribeTo(self.vehicle)
        self.control.rwParamsInMsg.subscribeTo(wheel_config)
        self.control.rwSpeedsInMsg.subscribeTo(self.speeds)
        self.mapping = rwMotorTorque.rwMotorTorque()
        self.mapping.ModelTag = "rwMotorTorque"
        self.mapping.controlAxes_B = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        self.mapping.rwParamsInMsg.subscribeTo(wheel_config)
        self.mapping.vehControlInMsg.subscribeTo(self.control.cmdTorqueOutMsg)
        for module in (self.control, self.mapping):
            module.SelfInit()
            module.Reset(0)

    def torques(self, sigma: np.ndarray, omega: np.ndarray, wheel_speeds: np.ndarray) -> np.ndarray:
        self.guidance.write(messaging.AttGuidMsgPayload(sigma_BR=[float(v) for v in sigma],
                                                        omega_BR_B=[float(v) for v in omega]))
        self.speeds.write(messaging.RWSpeedMsgPayload(wheelSpeeds=[float(v) for v in wheel_speeds]))
        self.control.UpdateState(0)
        self.mapping.UpdateState(0)
        return np.asarray(self.mapping.rwMotorTorqueOutMsg.read().motorTorque[:ACT_DIM], dtype=np.float64)


class SpacecraftWorld:
    """The Basilisk spacecraft seen through the model's interface: obs (1, 9) float32 in, torques out."""

    observation_name: str = "obs"
    outcomes: tuple[str, ...] = ("pointed", "saturated", "missed")
    success_outcome: str = "pointed"
    model_inputs = (((1, 9), "float32"),)  # attitude error (MRP), body rates, wheel speeds
    model_outputs = (((1, 3), "float32"),)  # wheel torques as fractions of the wheels' limit

    def __init__(self) -> None:
        bskLogging.setDefaultLogLevel(bskLogging.BSK_WARNING)
        self._wheels = _wheel_factory()
        self._wheel_config = self._wheels.getConfigMessage()
        self._fallback = _Fallback(self._wheel_config)
        self._sim = None
        self._seed: int | None = None
        self._steps = 0
        self._return = 0.0
        self._errors = np.zeros(STEPS, dtype=np.float64)
        self._max_speed = 0.0

    # ------------------------------------------------------------------ the simulation
    def _build(self, sigma0: np.ndarray, omega0: np.ndarray) -> None:
        sim = SimulationBaseClass.SimBaseClass()
        process = sim.CreateNewProcess("dynamics")
        process.addTask(sim.CreateNewTask("dynamicsTask", macros.sec2nano(DYNAMICS_STEP_S)))
        hub = spacecraft.Spacecraft()
        hub.ModelTag = "spacecraft"
        hub.hub.mHub = MASS
        hub.hub.r_BcB_B = [[0.0], [0.0], [0.0]]
        hub.hub.IHubPntBc_B = [[INERTIA[0], 0.0, 0.0], [0.0, INERTIA[1], 0.0], [0.0, 0.0, INERTIA[2]]]
        hub.hub.sigma_BNInit = [[float(v)] for v in sigma0]
        hub.hub.omega_BN_BInit = [[float(v)] for v in omega0]
        sim.AddModelToTask("dynamicsTask", hub, 1)
        wheels = reactionWheelStateEffector.ReactionWheelStateEffector()
        wheels.ModelTag = "wheels"
        factory = _wheel_factory()  # a fresh factory: its wheel states are the episode's initial ones
        factory.addToSpacecraft(wheels.ModelTag, wheels, hub)
        sim.AddModelToTask("dynamicsTask", wheels, 2)
        command = messaging.ArrayMotorTorqueMsg()
        command.write(messaging.ArrayMotorTorqueMsgPayload())
        wheels.rwMotorCmdInMsg.subscribeTo(command)
        sim.InitializeSimulation()
        # Keep every Python-owned piece alive as long as the simulation: Basilisk holds raw pointers.
        self._sim, self._hub, self._wheel_effector, self._command, self._factory = sim, hub, wheels, command, factory
        self._time_ns = 0

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        state = self._hub.scStateOutMsg.read()
        speeds = self._wheel_effector.rwSpeedOutMsg.read().wheelSpeeds[:ACT_DIM]
        return (np.asarray(state.sigma_BN, dtype=np.float64), np.asarray(state.omega_BN_B, dtype=np.float64),
                np.asarray(speeds, dtype=np.float64))

    def _frame(self) -> np.ndarray:
        sigma, omega, speeds = self._state()
        obs = np.concatenate([sigma, omega, speeds / OMEGA_MAX]).astype(np.float32)
        return np.ascontiguousarray(obs.reshape(1, OBS_DIM))

    # ------------------------------------------------------------------ the world protocol
    def reset(self, seed: int) -> np.ndarray:
        """Start the episode fixed by ``seed``; return the first sensor frame, shape (1, 9)."""
        rng = np.random.default_rng(int(seed))
        sigma0 = random_attitude(rng)
        omega0 = rng.uniform(-INITIAL_RATE_MAX, INITIAL_RATE_MAX, size=3)
        self._build(sigma0, omega0)
        self._seed = int(seed)
        self._steps = 0
        self._return = 0.0
        self._errors[:] = 0.0
        self._max_speed = 0.0
        return self._frame()

    def action_from_outputs(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Model output (fractions of u_max) -> wheel torques in N m, clipped to the wheel limits."""
        out = np.asarray(outputs[0], dtype=np.float64).reshape(-1)[:ACT_DIM]
        return np.clip(out, -1.0, 1.0) * U_MAX

    def fallback_action(self, obs: np.ndarray) -> np.ndarray:
        """Basilisk's mrpFeedback + rwMotorTorque on the sensor frame; torques in N m, clipped."""
        s = np.asarray(obs, dtype=np.float64).reshape(-1)
        torques = self._fallback.torques(s[0:3], s[3:6], s[6:9] * OMEGA_MAX)
        return np.clip(torques, -U_MAX, U_MAX)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """Command the wheels for one 0.5 s frame; return (next frame, reward, episode done)."""
        if self._sim is None:
            raise RuntimeError("step() called before reset()")
        if self._steps >= STEPS:
            raise RuntimeError("step() called after the episode ended")
        torques = np.clip(np.asarray(action, dtype=np.float64).reshape(ACT_DIM), -U_MAX, U_MAX)
        torques = np.where(np.isfinite(torques), torques, 0.0)
        self._command.write(messaging.ArrayMotorTorqueMsgPayload(motorTorque=[float(u) for u in torques]))
        self._time_ns += macros.sec2nano(CONTROL_PERIOD_S)
        self._sim.ConfigureStopTime(self._time_ns)
        self._sim.ExecuteSimulation()
        sigma, _omega, speeds = self._state()
        error = pointing_error_deg(sigma)
        self._errors[self._steps] = error
        self._max_speed = max(self._max_speed, float(np.max(np.abs(speeds))) / OMEGA_MAX)
        self._steps += 1
        self._return -= error
        return self._frame(), -error, self._steps >= STEPS

    def outcome(self) -> AttitudeOutcome:
        """Classify the finished (or cut-short) episode: pointed, saturated or missed."""
        if self._seed is None:
            raise RuntimeError("outcome() called before reset()")
        errors = self._errors[: self._steps]
        final = float(errors[-1]) if len(errors) else pointing_error_deg(self._state()[0])
        return AttitudeOutcome(self._seed, self._steps, self._return, classify(errors, self._max_speed),
                               final, self._max_speed)

    def close(self) -> None:
        """Drop the Basilisk simulation."""
        self._sim = None


def attitude_rw() -> SpacecraftWorld:
    """The registered world `spacecraft-attitude`: three wheel torques, fractions of u_max out."""
    return SpacecraftWorld()
