"""Images of the object: the RELION-convention two-body Fourier-slice projector, the CTF and
white noise at a calibrated SNR."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "projector": ["TwoBodyProjector"],
    "ctf": ["CTFParams", "ctf_2d", "sample_defocus", "electron_wavelength_A"],
    "noise": ["SNR_DEFINITION", "NoiseCalibration", "add_white_noise", "calibrate_noise", "noise_sigma",
              "particle_mask_radius_px", "signal_variance"],
})
