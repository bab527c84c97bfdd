name = 'iRoopDeepFaceCam'
version = '1.3.0'
edition = 'SwapCast test stand-in'
